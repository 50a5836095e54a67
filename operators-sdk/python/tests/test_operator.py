from dataclasses import dataclass

import pytest
import weir_operator
from weir_operator import (
    FLOAT64,
    INT64,
    UTF8,
    Batch,
    ErrorKind,
    Field,
    HostError,
    InternalError,
    InvalidConfig,
    InvalidInput,
    OpenContext,
    Operator,
    Schema,
    TimeDomain,
    Timer,
    log,
    metrics,
    per_record,
    state,
    timers,
)
from weir_operator import operator as operator_module
from weir_operator._runtime import guarded
from weir_operator.errors import classify
from weir_operator.rows import encode_batch
from weir_operator.testing import Harness

LINES = Schema([Field("line", UTF8)])
WORDS = Schema([Field("word", UTF8, nullable=False)])


@pytest.fixture(autouse=True)
def isolated_exports(monkeypatch):
    """Decorators register operators globally; each test starts empty."""
    monkeypatch.setattr(operator_module, "_exported", [])


# --- Per-record functions -------------------------------------------------


def test_a_per_record_function_may_return_nothing_one_or_many_records():
    @per_record(output=WORDS, inputs=["line"])
    def split(record):
        line = record["line"]
        if line is None:
            return None
        words = line.split()
        if len(words) == 1:
            return {"word": words[0]}
        if len(words) == 2:
            return (words[0] + "+" + words[1],)
        return ({"word": w} for w in words)

    h = Harness(split, LINES)
    out = h.process([("one",), (None,), ("two words",), ("and three words",), ("",)])
    assert out == [("one",), ("two+words",), ("and",), ("three",), ("words",)]
    assert h.close() == []


def test_a_per_record_function_gets_its_parsed_config():
    @dataclass
    class Config:
        min_length: int = 1

    @per_record(output=WORDS, config=Config)
    def split(record, config):
        return [(w,) for w in record["line"].split() if len(w) >= config.min_length]

    assert Harness(split, LINES, config={"minLength": 3}).process([("a bb ccc",)]) == [("ccc",)]
    with pytest.raises(InvalidConfig, match="field `minLen`: unknown field"):
        Harness(split, LINES, config={"minLen": 3})


def test_missing_input_columns_fail_open_naming_them():
    @per_record(output=WORDS, inputs=["text"])
    def split(record):
        return None

    with pytest.raises(InvalidConfig) as e:
        Harness(split, LINES)
    assert e.value.message == "the input has no column `text`; its columns are: line: utf8"


def test_the_decorated_function_stays_a_plain_function():
    @per_record(output=WORDS)
    def split(record):
        return [(w,) for w in record["line"].split()]

    assert split({"line": "a b"}) == [("a",), ("b",)]
    assert issubclass(split.operator, Operator)
    assert operator_module.exported() == [split.operator]


@pytest.mark.parametrize(
    "result, message",
    [
        ("word", "returned a str"),
        (3, "returned a int"),
        (b"x", "returned a bytes"),
    ],
)
def test_a_result_that_is_no_record_is_an_internal_error(result, message):
    @per_record(output=WORDS)
    def bad(record):
        return result

    with pytest.raises(InternalError, match=message):
        Harness(bad, LINES).process([("x",)])


# --- Operator classes -----------------------------------------------------


class Tally(Operator):
    """Per-record `process`, state kept across calls, output at close and on
    watermarks."""

    def open(self, ctx):
        self.line = ctx.input_schema.index_of("line")
        self.seen = 0
        return Schema([Field("word", UTF8, nullable=False), Field("n", INT64)])

    def process(self, record):
        self.seen += 1
        if record["line"] == "boom":
            raise InvalidInput(f"bad line at record {self.seen}")
        if record["line"] == "bug":
            yield {"word": None, "n": 1}
        for word in record["line"].split():
            yield word, self.seen

    def on_watermark(self, watermark):
        return {"word": "watermark", "n": watermark}

    def on_timer(self, timer):
        return [(timer.key.decode(), timer.timestamp)]

    def close(self):
        return ("seen", self.seen)


def test_a_class_operator_sees_every_call():
    h = Harness(Tally, LINES)
    assert h.process([("a b",), ("c",)]) == [("a", 1), ("b", 1), ("c", 2)]
    assert h.on_watermark(1000) == [("watermark", 1000)]
    fired = [Timer(b"k1", 5), Timer(b"k2", 6, TimeDomain.PROCESSING_TIME)]
    assert h.on_timer(fired) == [("k1", 5), ("k2", 6)]
    assert h.close() == [("seen", 2)]


def test_a_failed_call_sends_nothing_it_emitted():
    h = Harness(Tally, LINES)
    with pytest.raises(InvalidInput, match="bad line at record 2"):
        h.process([("kept?",), ("boom",)])
    assert h.process([("next",)]) == [("next", 3)]
    with pytest.raises(InternalError, match="column `word` is null"):
        h.process([("x",), ("bug",)])
    assert h.close() == [("seen", 5)]


class Doubler(Operator):
    """Works on the batch's tuples, with per-batch metrics and logs."""

    def open(self, ctx):
        self.value = ctx.input_schema.column("value", FLOAT64)
        return Schema([Field("doubled", FLOAT64, nullable=False)])

    def process_batch(self, batch):
        assert isinstance(batch, Batch)
        metrics.counter_add("rows", len(batch))
        metrics.gauge_set("last_batch", len(batch))
        log.info("batch of %d rows", len(batch))
        return [(row[self.value] * 2,) for row in batch]


def test_process_batch_receives_tuples():
    schema = Schema([Field("id", INT64), Field("value", FLOAT64)])
    h = Harness(Doubler, schema)
    assert h.process([(1, 1.5), (2, -2.0)]) == [(3.0,), (-4.0,)]
    assert h.process([(3, 0.25)]) == [(0.5,)]
    assert h.counters == {"rows": 3}
    assert h.gauges == {"last_batch": 1.0}


def test_a_column_of_the_wrong_type_fails_open():
    schema = Schema([Field("value", UTF8)])
    with pytest.raises(InvalidConfig, match="the input column `value` is utf8, expected float64"):
        Harness(Doubler, schema)


def test_batches_offer_columns_and_dict_records():
    batch = Batch(LINES, [("a",), (None,)])
    assert batch.column("line") == ["a", None]
    assert list(batch.records()) == [{"line": "a"}, {"line": None}]
    assert len(batch) == 2 and batch[1] == (None,)


def test_open_must_return_the_output_schema():
    class Forgetful(Operator):
        def open(self, ctx):
            self.ready = True

        def process(self, record):
            return None

    with pytest.raises(InternalError, match="Forgetful.open returned a NoneType"):
        Harness(Forgetful, LINES)


def test_an_operator_without_process_says_so():
    class Empty(Operator):
        def open(self, ctx):
            return WORDS

    with pytest.raises(
        NotImplementedError, match="Empty implements neither process nor process_batch"
    ):
        Harness(Empty, LINES).process([("x",)])


def test_output_may_be_the_input_schema():
    class Passthrough(Operator):
        def open(self, ctx):
            return ctx.input_schema

        def process_batch(self, batch):
            return batch.rows

    data = encode_batch([("a",), (None,)], LINES)
    h = Harness(Passthrough, LINES)
    assert h.process_bytes(data) == [("a",), (None,)]
    assert h.batches == [data]


# --- Errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "error, kind, message",
    [
        (InvalidConfig("bad config"), ErrorKind.INVALID_CONFIG, "bad config"),
        (InvalidInput("bad record"), ErrorKind.INVALID_INPUT, "bad record"),
        (HostError("no state"), ErrorKind.HOST, "no state"),
        (InternalError("bug"), ErrorKind.INTERNAL, "bug"),
        (
            ValueError("invalid literal for int()"),
            ErrorKind.INTERNAL,
            "ValueError: invalid literal for int()",
        ),
        (KeyError("line"), ErrorKind.INTERNAL, "KeyError: 'line'"),
        (ZeroDivisionError(), ErrorKind.INTERNAL, "ZeroDivisionError"),
        (SystemExit(3), ErrorKind.INTERNAL, "SystemExit: 3"),
    ],
)
def test_errors_map_to_kinds(error, kind, message):
    assert classify(error) == (kind, message)


def test_guarded_turns_exceptions_into_answers_and_logs_tracebacks(capsys):
    def fails():
        return {}["missing"]

    assert guarded(lambda: 42) == (True, 42)
    assert guarded(fails) == (False, (ErrorKind.INTERNAL, "KeyError: 'missing'"))
    logged = capsys.readouterr().err
    assert "[error] Traceback (most recent call last)" in logged
    assert "in fails" in logged

    def refuses():
        raise InvalidInput("conform: rejected record with id 7")

    assert guarded(refuses) == (
        False,
        (ErrorKind.INVALID_INPUT, "conform: rejected record with id 7"),
    )
    assert capsys.readouterr().err == ""  # an expected error is no bug: no traceback


def test_guarded_lets_memory_errors_through():
    def exhausted():
        raise MemoryError()

    with pytest.raises(MemoryError):
        guarded(exhausted)


def test_an_exception_from_operator_code_reaches_guarded_with_its_type_and_message():
    class Buggy(Operator):
        def open(self, ctx):
            return WORDS

        def process(self, record):
            return {"word": record["line"].upper()}

    h = Harness(Buggy, LINES)
    ok, answer = guarded(h.process, [(None,)])
    assert not ok
    assert answer == (
        ErrorKind.INTERNAL,
        "AttributeError: 'NoneType' object has no attribute 'upper'",
    )


# --- Host services outside a runtime --------------------------------------


def test_state_and_timers_are_unavailable_natively():
    with pytest.raises(HostError) as e:
        state.ValueState.open("counts")
    assert e.value.kind is ErrorKind.HOST
    assert e.value.cause == "unavailable"
    assert e.value.message.startswith("value state `counts`: unavailable: ")
    with pytest.raises(HostError, match="list state `l`: unavailable"):
        state.ListState.open("l")
    with pytest.raises(HostError, match="registering timers: unavailable"):
        timers.register([Timer(b"k", 1)])
    assert timers.current_watermark() is None
    assert timers.current_processing_time() > 1_600_000_000_000


def test_state_calls_convert_values_and_surface_host_errors(monkeypatch):
    from weir_operator import _host

    class Handle:
        def get(self, keys):
            return [k if type(k) is bytes else None for k in keys]

        def put(self, entries):
            raise RuntimeError(entries)

    class FakeHost(_host.NativeHost):
        def open_state(self, kind, name):
            return Handle()

        def call(self, what, method, *args):
            try:
                return method(*args)
            except RuntimeError as e:
                raise HostError(f"{what}: limit exceeded: {e}", "limit-exceeded") from None

    monkeypatch.setattr(_host, "backend", FakeHost())
    values = state.ValueState.open("v")
    assert values.get([b"a", bytearray(b"b")]) == [b"a", b"b"]
    with pytest.raises(HostError, match=r"value state `v`: limit exceeded: \[\(b'k', None\)\]"):
        values.put([(bytearray(b"k"), None)])


def test_key_of_encodes_the_key_columns():
    schema = Schema([Field("id", INT64), Field("word", UTF8)])
    ctx = OpenContext(schema, key_fields=["word"])
    assert ctx.key_of(("ignored", "hi")).hex() == "04020000006869"
    assert ctx.key_of({"id": 1, "word": "hi"}).hex() == "04020000006869"
    with pytest.raises(InvalidConfig, match="needs a keyed input"):
        OpenContext(schema).key_of((1, "hi"))


def test_metric_deltas_are_unsigned_integers():
    with pytest.raises(ValueError, match="from 0 to 2\\^64-1"):
        metrics.counter_add("x", -1)


# --- Exports --------------------------------------------------------------


def test_a_component_exports_exactly_one_operator():
    with pytest.raises(RuntimeError, match="module `app` exports no operator"):
        operator_module.the_exported("app")

    @weir_operator.export
    class First(Tally):
        pass

    assert operator_module.the_exported("app") is First

    @per_record(output=WORDS)
    def second(record):
        return None

    with pytest.raises(RuntimeError, match="these are exported: .*First, .*second"):
        operator_module.the_exported("app")


def test_export_takes_operator_classes_only():
    with pytest.raises(TypeError, match="subclass of weir_operator.Operator"):
        weir_operator.export(object)
