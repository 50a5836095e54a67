import enum
from dataclasses import dataclass, field
from typing import Literal

import pytest
from weir_operator import UTF8, Field, InvalidConfig, OpenContext, Schema

INPUT = Schema([Field("line", UTF8)])


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Inner:
    threshold: float = 0.5


@dataclass
class Config:
    lowercase: bool = True
    min_length: int = 1
    min_score: float = 50.0
    prefix: str = ""
    fail_on_id: int | None = None
    mode: Literal["fast", "exact"] = "fast"
    color: Color = Color.RED
    words: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)
    odd_name: int = field(default=0, metadata={"json": "odd-name"})


def parse(config, cls=Config):
    return OpenContext(INPUT, config, operator_name="tok").config(cls)


def test_an_empty_config_gives_the_defaults():
    assert parse("{}") == Config()
    assert parse("") == Config()
    assert parse({}) == Config()


def test_reads_camel_case_keys_into_snake_case_fields():
    got = parse(
        {
            "lowercase": False,
            "minLength": 3,
            "minScore": 7,
            "prefix": "t:",
            "failOnId": 12,
            "mode": "exact",
            "color": "blue",
            "words": ["a", "b"],
            "weights": {"x": 1, "y": 2.5},
            "inner": {"threshold": 1},
            "odd-name": 4,
        }
    )
    assert got == Config(
        lowercase=False,
        min_length=3,
        min_score=7.0,
        prefix="t:",
        fail_on_id=12,
        mode="exact",
        color=Color.BLUE,
        words=["a", "b"],
        weights={"x": 1.0, "y": 2.5},
        inner=Inner(1.0),
        odd_name=4,
    )
    assert type(got.min_score) is float


@pytest.mark.parametrize(
    "config, message",
    [
        ({"minLen": 2}, "field `minLen`: unknown field (known fields: `lowercase`, `minLength`"),
        ({"min_length": 2}, "field `min_length`: unknown field"),
        ({"minLength": "2"}, 'field `minLength`: expected an integer, found a string ("2")'),
        ({"minLength": 2.5}, "field `minLength`: expected an integer, found a number (2.5)"),
        ({"minLength": True}, "field `minLength`: expected an integer, found a boolean (true)"),
        ({"lowercase": 1}, "field `lowercase`: expected a boolean, found a number (1)"),
        ({"minScore": "high"}, "field `minScore`: expected a number"),
        ({"prefix": None}, "field `prefix`: expected a string, found null"),
        ({"failOnId": "x"}, "field `failOnId`: expected an integer"),
        (
            {"mode": "slow"},
            'field `mode`: expected one of "fast", "exact", found a string ("slow")',
        ),
        ({"color": "green"}, 'field `color`: expected one of "red", "blue"'),
        ({"words": "a b"}, "field `words`: expected an array"),
        ({"words": ["a", 1]}, "field `words[1]`: expected a string"),
        ({"weights": {"x": "heavy"}}, "field `weights.x`: expected a number"),
        ({"inner": {"treshold": 1}}, "field `inner.treshold`: unknown field"),
    ],
)
def test_problems_are_invalid_config_errors_naming_the_field(config, message):
    with pytest.raises(InvalidConfig) as e:
        parse(config)
    assert e.value.message.startswith("invalid config of operator `tok`: ")
    assert message in e.value.message


def test_a_field_without_default_is_required():
    @dataclass
    class Needs:
        mode: str

    with pytest.raises(InvalidConfig, match="field `mode`: missing field"):
        parse("{}", Needs)
    assert parse({"mode": "x"}, Needs) == Needs("x")


def test_rejects_what_is_not_a_json_object():
    with pytest.raises(InvalidConfig, match="expected an object, found an array"):
        parse("[1]")
    with pytest.raises(InvalidConfig, match="not JSON"):
        parse("{lowercase: true}")


def test_without_a_class_the_config_is_a_dict():
    ctx = OpenContext(INPUT, '{"a": [1, 2]}')
    assert ctx.config() == {"a": [1, 2]}
    assert ctx.config_json == '{"a": [1, 2]}'
    with pytest.raises(InvalidConfig, match="expected an object"):
        OpenContext(INPUT, "3").config()


def test_errors_raised_by_the_class_itself_propagate():
    @dataclass
    class Checked:
        min_length: int = 1

        def __post_init__(self):
            if self.min_length < 0:
                raise InvalidConfig("minLength must be at least 0")

    with pytest.raises(InvalidConfig, match="minLength must be at least 0"):
        parse({"minLength": -1}, Checked)


def test_a_config_class_must_be_a_dataclass():
    class NotADataclass:
        pass

    with pytest.raises(TypeError, match="must be a dataclass"):
        parse("{}", NotADataclass)
