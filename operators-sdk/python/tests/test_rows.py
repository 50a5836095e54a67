import json
import math
import struct
from pathlib import Path

import pytest
from weir_operator import (
    BINARY,
    BOOLEAN,
    FLOAT64,
    INT64,
    TIMESTAMP_MILLIS,
    UTF8,
    DataType,
    Field,
    InternalError,
    InvalidInput,
    Schema,
)
from weir_operator.rows import MalformedBatch, Output, decode_batch, encode_batch, encode_key

VECTORS = Path(__file__).resolve().parents[2] / "testdata" / "row-vectors.json"


def load_vectors():
    doc = json.loads(VECTORS.read_text(encoding="utf-8"))
    return [pytest.param(v, id=v["name"]) for v in doc["vectors"]]


def vector_schema(vector):
    return Schema(Field(f["name"], DataType(f["type"]), f["nullable"]) for f in vector["schema"])


def from_json(value, data_type):
    """A value of the vectors' JSON notation, as the SDK represents it."""
    if value is None:
        return None
    if data_type in (INT64, TIMESTAMP_MILLIS):
        return int(value)
    if data_type is FLOAT64:
        return float(value)
    if data_type is BINARY:
        return bytes.fromhex(value)
    return value


def vector_rows(vector, schema):
    return [tuple(from_json(v, f.data_type) for v, f in zip(row, schema)) for row in vector["rows"]]


def same(a, b):
    # -0.0 == 0.0 in Python; the vectors distinguish them.
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("vector", load_vectors())
def test_decodes_every_vector(vector):
    schema = vector_schema(vector)
    rows = decode_batch(bytes.fromhex(vector["hex"]), schema)
    expected = vector_rows(vector, schema)
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        assert len(got) == len(want)
        assert all(same(g, w) for g, w in zip(got, want)), (got, want)


@pytest.mark.parametrize("vector", load_vectors())
def test_encodes_every_vector_to_exactly_its_bytes(vector):
    schema = vector_schema(vector)
    assert encode_batch(vector_rows(vector, schema), schema).hex() == vector["hex"]


@pytest.mark.parametrize("vector", [v for v in load_vectors() if v.values[0]["schema"]])
def test_output_batches_are_the_vector_bytes(vector):
    schema = vector_schema(vector)
    rows = vector_rows(vector, schema)
    out = Output(schema)
    out.extend(rows)
    batches = out.take_batches()
    if rows:
        assert [b.hex() for b in batches] == [vector["hex"]]
    else:
        assert batches == []  # no records, no batch


def test_docs_example_key():
    assert encode_key(["hi"], [Field("word", UTF8)]).hex() == "04020000006869"


WORD_COUNT = Schema([Field("word", UTF8, nullable=False), Field("count", INT64)])


@pytest.mark.parametrize(
    "data, problem",
    [
        ("0100000002000000", "ends in the middle"),
        ("0100000003000000", "the header says 3 columns, the schema has 2"),
        ("01000000020000000402000000686902", "ends in the middle"),
        ("0100000002000000040200000068690203000000", "ends in the middle"),
        (
            "010000000200000000020300000000000000",
            "row 0, column `word`: expected utf8 (not null), found null",
        ),
        (
            "01000000020000000401000000680403000000",
            "row 0, column `count`: expected int64, found utf8",
        ),
        (
            "010000000200000004010000006863",
            "row 0, column `count`: expected int64, found unknown tag 99",
        ),
        ("01000000020000000401000000680000", "bytes follow the last value"),
        ("010000000200000004010000ff0000", "ends in the middle"),
        ("01000000020000000401000000ff00", "not valid UTF-8"),
    ],
)
def test_rejects_malformed_batches(data, problem):
    with pytest.raises(MalformedBatch) as e:
        decode_batch(bytes.fromhex(data), WORD_COUNT)
    assert isinstance(e.value, InvalidInput)
    assert e.value.message.startswith("malformed input batch: ")
    assert problem in e.value.message


def test_rejects_a_boolean_byte_other_than_0_or_1():
    schema = Schema([Field("b", BOOLEAN)])
    with pytest.raises(MalformedBatch, match="a boolean byte is 2"):
        decode_batch(bytes.fromhex("01000000010000000102"), schema)


def test_records_may_be_tuples_lists_dicts_or_dataclasses():
    from dataclasses import dataclass

    @dataclass
    class WordCount:
        word: str
        count: int | None

    out = Output(WORD_COUNT)
    out.extend([("a", 1), ["b", 2], {"word": "c", "count": 3}, {"word": "d"}, WordCount("e", None)])
    (batch,) = out.take_batches()
    assert decode_batch(batch, WORD_COUNT) == [
        ("a", 1),
        ("b", 2),
        ("c", 3),
        ("d", None),
        ("e", None),
    ]


def test_converts_what_python_code_naturally_produces():
    schema = Schema([Field("f", FLOAT64, nullable=False), Field("bin", BINARY, nullable=False)])
    out = Output(schema)
    out.extend([(3, bytearray(b"ab")), (2.5, memoryview(b"cd"))])
    (batch,) = out.take_batches()
    rows = decode_batch(batch, schema)
    assert rows == [(3.0, b"ab"), (2.5, b"cd")]
    assert type(rows[0][0]) is float


def test_float_special_values_round_trip():
    schema = Schema([Field("f", FLOAT64)])
    values = [math.inf, -math.inf, -0.0, 5e-324]
    rows = decode_batch(encode_batch([(v,) for v in values + [math.nan]], schema), schema)
    assert [r[0] for r in rows[:-1]] == values
    assert math.isnan(rows[-1][0])


@pytest.mark.parametrize(
    "record, message",
    [
        (("a", "1"), "column `count` is a str ('1'), the output schema says count: int64"),
        ((None, 1), "column `word` is null, the output schema says word: utf8 not null"),
        (("a", True), "column `count` is a bool (True)"),
        (("a", 1.0), "column `count` is a float (1.0)"),
        (("a", 2**63), "outside the range of a 64-bit integer"),
        (("a", -(2**63) - 1), "outside the range of a 64-bit integer"),
        (
            ("a",),
            "a record of 1 values, the output schema has 2 columns (word: utf8, count: int64)",
        ),
        ({"count": 1}, "without the column `word`"),
        ({"word": "a", "cnt": 1}, "with column `cnt` that the output schema does not have"),
        ({"word": "a", "count": 1, "x": 1}, "with column `x` that the output schema does not have"),
        ("word", "emitted a str ('word') where a record belongs"),
        (7, "emitted a int (7) where a record belongs"),
        (("\ud800", 1), "not valid Unicode"),
    ],
)
def test_rejects_records_that_break_the_output_schema(record, message):
    out = Output(WORD_COUNT)
    out.emit(("kept", 1))
    with pytest.raises(InternalError) as e:
        out.emit(record)
    assert message in e.value.message
    # The failed record left nothing behind.
    (batch,) = out.take_batches()
    assert decode_batch(batch, WORD_COUNT) == [("kept", 1)]


def test_starts_a_new_batch_past_the_target_size():
    out = Output(WORD_COUNT, target_bytes=64)
    out.extend((f"word{i}", i) for i in range(20))
    batches = out.take_batches()
    assert len(batches) > 1
    assert all(len(b) < 64 + 32 for b in batches)
    rows = [r for b in batches for r in decode_batch(b, WORD_COUNT)]
    assert rows == [(f"word{i}", i) for i in range(20)]


def test_discard_drops_everything_emitted():
    out = Output(WORD_COUNT, target_bytes=16)
    out.extend([("a", 1), ("b", 2)])
    out.discard()
    out.emit(("c", 3))
    (batch,) = out.take_batches()
    assert decode_batch(batch, WORD_COUNT) == [("c", 3)]
    assert out.take_batches() == []


def test_an_output_without_columns_refuses_records():
    out = Output(Schema([]))
    out.extend([])
    with pytest.raises(InternalError, match="no columns"):
        out.emit(())


def test_every_type_round_trips_through_a_generated_codec():
    schema = Schema(
        [
            Field("b", BOOLEAN, nullable=False),
            Field("i", INT64, nullable=False),
            Field("f", FLOAT64, nullable=False),
            Field("s", UTF8, nullable=False),
            Field("bin", BINARY, nullable=False),
            Field("ts", TIMESTAMP_MILLIS, nullable=False),
            Field("nb", BOOLEAN),
            Field("ni", INT64),
            Field("nf", FLOAT64),
            Field("ns", UTF8),
            Field("nbin", BINARY),
            Field("nts", TIMESTAMP_MILLIS),
        ]
    )
    rows = [
        (True, -5, 1.25, "Zoë 🌊", b"\x00\xff", 1700000000000, False, 7, -0.5, "", b"", -1),
        (False, 0, 0.0, "", b"", 0, None, None, None, None, None, None),
    ]
    assert decode_batch(encode_batch(rows, schema), schema) == rows
