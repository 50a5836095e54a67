"""Weir's row encoding: batches of records as bytes.

    batch := row-count: u32, column-count: u32, value{row-count * column-count}
    value := tag: u8, payload

All integers little-endian, values row by row, columns in schema order; the
tags are 0 null, 1 boolean, 2 int64, 3 float64, 4 utf8, 5 binary,
6 timestamp-millis. The normative text is the `encoding` comment of the WIT
contract.

Decoding and encoding are the bulk of what the SDK costs per record, and an
interpreted loop that dispatches on each column's type per value is slow. So
for each schema this module generates, once, a decoder and an encoder whose
loops are unrolled over the schema's columns: per value they do one tag check
and one `struct` call, and no function call of their own.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import InternalError, InvalidInput
from .schema import DataType, Field, Schema

__all__ = [
    "MalformedBatch",
    "TARGET_BATCH_BYTES",
    "decode_batch",
    "encode_batch",
    "encode_value",
    "encode_key",
    "Output",
]

#: A new output batch starts once the current one reaches this size: large
#: enough that per-batch costs vanish, small enough to bound guest memory and
#: downstream latency.
TARGET_BATCH_BYTES = 1 << 20

_HEADER = struct.Struct("<II")
_U32 = struct.Struct("<I").unpack_from
_TAG_LEN = struct.Struct("<BI").pack
_TAG_I64 = struct.Struct("<Bq").pack
_TAG_F64 = struct.Struct("<Bd").pack
_TAG_LEN_AT = struct.Struct("<BI").unpack_from
_TAG_I64_AT = struct.Struct("<Bq").unpack_from
_TAG_F64_AT = struct.Struct("<Bd").unpack_from
_TRUE = b"\x01\x01"
_FALSE = b"\x01\x00"

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

_TAG_NAMES = {
    0: "null",
    1: "boolean",
    2: "int64",
    3: "float64",
    4: "utf8",
    5: "binary",
    6: "timestamp-millis",
}


class MalformedBatch(InvalidInput):
    """A batch that does not follow the row encoding or its schema."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed input batch: {problem}")


# ---------------------------------------------------------------------------
# Decoding


def _decode_column(i: int, field: Field) -> list[str]:
    """Source lines reading column `i` of row `r` at offset `p` into `v{i}`.

    A column without nulls reads its tag together with the payload (or the
    length) in one `struct` call; a nullable one must look at the tag first.
    """
    tag = field.data_type.tag
    v = f"v{i}"
    t = field.data_type
    if t is DataType.UTF8 or t is DataType.BINARY:
        read = f"{v} = b[p:p + n].decode()" if t is DataType.UTF8 else f"{v} = b[p:p + n]"
        if not field.nullable:
            return [
                "t, n = TAG_LEN(b, p)",
                f"if t != {tag}: raise bad_tag(r, {i}, t)",
                "p += 5",
                read,
                "p += n",
            ]
        body = ["n = U32(b, p + 1)[0]", "p += 5", read, "p += n"]
    elif t is DataType.BOOLEAN:
        body = [
            "x = b[p + 1]",
            f"if x > 1: raise bad_bool(r, {i}, x)",
            f"{v} = x == 1",
            "p += 2",
        ]
    else:
        fixed = "TAG_F64" if t is DataType.FLOAT64 else "TAG_I64"
        if not field.nullable:
            return [
                f"t, {v} = {fixed}(b, p)",
                f"if t != {tag}: raise bad_tag(r, {i}, t)",
                "p += 9",
            ]
        body = [f"{v} = {fixed}(b, p)[1]", "p += 9"]
    lines = ["t = b[p]", f"if t == {tag}:"]
    lines += ["    " + line for line in body]
    if field.nullable:
        lines += ["elif t == 0:", f"    {v} = None", "    p += 1"]
    lines += ["else:", f"    raise bad_tag(r, {i}, t)"]
    return lines


def _compile(source: str, name: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    code = compile(source, f"<weir_operator.rows {name}>", "exec")
    exec(code, namespace)
    return namespace[name]


def _make_decoder(schema: Schema) -> Callable[[bytes], list[tuple[Any, ...]]]:
    fields = schema.fields
    width = len(fields)

    def bad_tag(row: int, column: int, tag: int) -> MalformedBatch:
        field = fields[column]
        found = _TAG_NAMES.get(tag, f"unknown tag {tag}")
        expected = (
            field.data_type.value if field.nullable else f"{field.data_type.value} (not null)"
        )
        return MalformedBatch(
            f"row {row}, column `{field.name}`: expected {expected}, found {found}"
        )

    def bad_bool(row: int, column: int, byte: int) -> MalformedBatch:
        return MalformedBatch(
            f"row {row}, column `{fields[column].name}`: a boolean byte is {byte}, not 0 or 1"
        )

    lines = [
        "def decode(b):",
        "    count, columns = HEADER(b, 0)",
        f"    if columns != {width}:",
        f"        raise Malformed(f'the header says {{columns}} columns, the schema has {width}')",
    ]
    if width == 0:
        lines += [
            "    if len(b) != 8:",
            "        raise Malformed(TRAILING)",
            "    return [()] * count",
        ]
    else:
        row = ", ".join(f"v{i}" for i in range(width)) + ("," if width == 1 else "")
        lines += [
            "    rows = []",
            "    append = rows.append",
            "    p = 8",
            "    for r in range(count):",
        ]
        for i, field in enumerate(fields):
            lines += ["        " + line for line in _decode_column(i, field)]
        lines += [
            f"        append(({row}))",
            "    if p != len(b):",
            "        raise Malformed(TRAILING if p < len(b) else TRUNCATED)",
            "    return rows",
        ]
    namespace = {
        "HEADER": _HEADER.unpack_from,
        "U32": _U32,
        "TAG_LEN": _TAG_LEN_AT,
        "TAG_I64": _TAG_I64_AT,
        "TAG_F64": _TAG_F64_AT,
        "Malformed": MalformedBatch,
        "bad_tag": bad_tag,
        "bad_bool": bad_bool,
        "TRAILING": "bytes follow the last value",
        "TRUNCATED": "the batch ends in the middle of a value",
    }
    return _compile("\n".join(lines) + "\n", "decode", namespace)


_decoders: dict[Schema, Callable[[bytes], list[tuple[Any, ...]]]] = {}


def decode_batch(data: bytes, schema: Schema) -> list[tuple[Any, ...]]:
    """The records of a batch, as tuples of values in schema order.

    Raises `MalformedBatch` (an `InvalidInput`) when the bytes do not follow the
    encoding or the schema.
    """
    decoder = _decoders.get(schema)
    if decoder is None:
        decoder = _decoders[schema] = _make_decoder(schema)
    try:
        return decoder(data)
    except (IndexError, struct.error):
        raise MalformedBatch("the batch ends in the middle of a value") from None
    except UnicodeDecodeError as e:
        raise MalformedBatch(f"a utf8 value is not valid UTF-8 ({e.reason})") from None


# ---------------------------------------------------------------------------
# Encoding


def _type_name(value: object) -> str:
    return type(value).__name__


def _mismatch(field: Field, value: object) -> InternalError:
    if value is None:
        what = "null"
    else:
        what = f"a {_type_name(value)} ({_short_repr(value)})"
    return InternalError(
        f"emitted a record whose column `{field.name}` is {what}, "
        f"the output schema says {field.describe()}"
    )


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def encode_value(out: bytearray, field: Field, value: Any) -> None:
    """Appends one value of `field` (tag and payload) to `out`.

    Raises `InternalError` naming the field when the value does not fit it.
    This is the general path; generated encoders call it only for values that
    are not of the exact Python type their fast path expects.
    """
    t = field.data_type
    if value is None:
        if not field.nullable:
            raise _mismatch(field, value)
        out.append(0)
    elif t is DataType.UTF8:
        if not isinstance(value, str):
            raise _mismatch(field, value)
        try:
            data = value.encode()
        except UnicodeEncodeError as e:
            raise InternalError(
                f"emitted a record whose column `{field.name}` holds text that is not "
                f"valid Unicode ({e.reason})"
            ) from None
        out += _TAG_LEN(4, len(data))
        out += data
    elif t is DataType.BINARY:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise _mismatch(field, value)
        data = bytes(value)
        out += _TAG_LEN(5, len(data))
        out += data
    elif t is DataType.INT64 or t is DataType.TIMESTAMP_MILLIS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _mismatch(field, value)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InternalError(
                f"emitted a record whose column `{field.name}` is {value}, "
                f"outside the range of a 64-bit integer"
            )
        out += _TAG_I64(t.tag, value)
    elif t is DataType.FLOAT64:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _mismatch(field, value)
        try:
            number = float(value)
        except OverflowError:
            raise InternalError(
                f"emitted a record whose column `{field.name}` is {value}, too large for a float64"
            ) from None
        out += _TAG_F64(3, number)
    else:
        if not isinstance(value, bool):
            raise _mismatch(field, value)
        out += _TRUE if value else _FALSE


def _encode_column(i: int, field: Field) -> list[str]:
    """Source lines appending `v{i}` to `out`, with a fast path for the exact
    Python type of the column and `slow` for everything else."""
    v = f"v{i}"
    t = field.data_type
    if t is DataType.UTF8:
        fast = [
            f"if type({v}) is str:",
            f"    e = {v}.encode()",
            "    out += TAG_LEN(4, len(e))",
            "    out += e",
        ]
    elif t is DataType.BINARY:
        fast = [f"if type({v}) is bytes:", f"    out += TAG_LEN(5, len({v}))", f"    out += {v}"]
    elif t is DataType.INT64 or t is DataType.TIMESTAMP_MILLIS:
        fast = [f"if type({v}) is int:", f"    out += TAG_I64({t.tag}, {v})"]
    elif t is DataType.FLOAT64:
        fast = [f"if type({v}) is float:", f"    out += TAG_F64(3, {v})"]
    else:
        fast = [f"if {v} is True:", "    out += TRUE", f"elif {v} is False:", "    out += FALSE"]
    lines = fast
    if field.nullable:
        lines += [f"elif {v} is None:", "    out.append(0)"]
    lines += ["else:", f"    slow(out, FIELDS[{i}], {v})"]
    return lines


class _Encoder:
    """Turns records of one schema into row-encoded values."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.fields = schema.fields
        self.write = self._generate()

    def _generate(self) -> Callable[[Iterator[Any], bytearray, float], tuple[int, bool]]:
        width = len(self.fields)
        if width == 0:

            def write_none(it: Iterator[Any], out: bytearray, limit: float) -> tuple[int, bool]:
                for _ in it:
                    raise InternalError("cannot emit records: the output schema has no columns")
                return 0, True

            return write_none
        unpack = ", ".join(f"v{i}" for i in range(width)) + ("," if width == 1 else "")
        by_name = "; ".join(f"v{i} = row[K{i}]" for i in range(width))
        lines = [
            "def write(it, out, limit):",
            "    n = 0",
            "    for row in it:",
            "        mark = len(out)",
            "        try:",
            "            kind = type(row)",
            f"            if kind is dict and len(row) == {width}:",
            "                try:",
            f"                    {by_name}",
            "                except KeyError:",
            f"                    {unpack} = as_tuple(row)",
            "            else:",
            "                if kind is not tuple:",
            "                    row = as_tuple(row)",
            f"                if len(row) != {width}:",
            "                    raise count_error(row)",
            f"                {unpack} = row",
        ]
        for i, field in enumerate(self.fields):
            lines += ["            " + line for line in _encode_column(i, field)]
        lines += [
            "        except BaseException as e:",
            "            del out[mark:]",
            "            raise explain(e, row)",
            "        n += 1",
            "        if len(out) >= limit:",
            "            return n, False",
            "    return n, True",
        ]
        namespace = {
            "TAG_LEN": _TAG_LEN,
            "TAG_I64": _TAG_I64,
            "TAG_F64": _TAG_F64,
            "TRUE": _TRUE,
            "FALSE": _FALSE,
            "FIELDS": self.fields,
            "slow": encode_value,
            "as_tuple": self.as_tuple,
            "count_error": self.count_error,
            "explain": self.explain,
        }
        namespace.update({f"K{i}": field.name for i, field in enumerate(self.fields)})
        return _compile("\n".join(lines) + "\n", "write", namespace)

    def as_tuple(self, record: Any) -> tuple[Any, ...]:
        """The values of a record that is not a plain tuple, in schema order."""
        if isinstance(record, dict):
            return self._from_mapping(record)
        if isinstance(record, (tuple, list)):
            return tuple(record)
        if dataclasses.is_dataclass(record) and not isinstance(record, type):
            return self._from_mapping(
                {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
            )
        raise InternalError(
            f"emitted a {_type_name(record)} ({_short_repr(record)}) where a record belongs: "
            "emit a dict, a tuple or a dataclass instance with the output schema's columns "
            f"({self.schema.column_list()})"
        )

    def _from_mapping(self, record: dict[str, Any]) -> tuple[Any, ...]:
        values = []
        found = 0
        for field in self.fields:
            if field.name in record:
                values.append(record[field.name])
                found += 1
            elif field.nullable:
                values.append(None)
            else:
                raise InternalError(
                    f"emitted a record without the column `{field.name}`, which the output "
                    f"schema says is {field.describe()}"
                )
        if found != len(record):
            extra = [str(k) for k in record if k not in self.schema]
            raise InternalError(
                f"emitted a record with {_plural(extra, 'column')} "
                f"{', '.join(f'`{k}`' for k in extra)} that the output schema does not have "
                f"(its columns: {self.schema.column_list()})"
            )
        return tuple(values)

    def count_error(self, row: tuple[Any, ...]) -> InternalError:
        return InternalError(
            f"emitted a record of {len(row)} values, the output schema has "
            f"{len(self.fields)} columns ({self.schema.column_list()})"
        )

    def explain(self, error: BaseException, row: Any) -> BaseException:
        """The error to report for a record whose encoding failed: a precise
        one when the record breaks the schema, else the original error."""
        if isinstance(error, (struct.error, UnicodeEncodeError, OverflowError)):
            scratch = bytearray()
            if isinstance(row, tuple) and len(row) == len(self.fields):
                for field, value in zip(self.fields, row):
                    try:
                        encode_value(scratch, field, value)
                    except InternalError as precise:
                        return precise
        return error


def _plural(items: list[str], word: str) -> str:
    return word if len(items) == 1 else word + "s"


_encoders: dict[Schema, _Encoder] = {}


def _encoder(schema: Schema) -> _Encoder:
    encoder = _encoders.get(schema)
    if encoder is None:
        encoder = _encoders[schema] = _Encoder(schema)
    return encoder


def encode_batch(rows: Iterable[Any], schema: Schema) -> bytes:
    """One batch holding `rows` (tuples in schema order, dicts by column name,
    or dataclass instances), however large it gets."""
    buf = bytearray(8)
    if len(schema) == 0:
        count = 0
        for row in rows:
            if len(row) != 0:
                raise InternalError("a record of a schema without columns must be empty")
            count += 1
    else:
        count, _ = _encoder(schema).write(iter(rows), buf, float("inf"))
    _HEADER.pack_into(buf, 0, count, len(schema))
    return bytes(buf)


def encode_key(values: Iterable[Any], fields: Iterable[Field]) -> bytes:
    """A keyed-state key: each value as tag and payload, no header."""
    out = bytearray()
    for field, value in zip(fields, values, strict=True):
        encode_value(out, field, value)
    return bytes(out)


class Output:
    """Where an operator's records go during one call.

    Every record is checked against the output schema and encoded at once; a
    new batch starts every `target_bytes` or so. The SDK drives it; operator
    code returns or yields records instead of touching it.
    """

    def __init__(self, schema: Schema, target_bytes: int = TARGET_BATCH_BYTES) -> None:
        self.schema = schema
        self._write = _encoder(schema).write
        self._target = target_bytes
        self._buf: bytearray | None = None
        self._rows = 0
        self._batches: list[bytes] = []

    def emit(self, record: Any) -> None:
        """Appends one record."""
        self.extend((record,))

    def extend(self, records: Iterable[Any]) -> None:
        """Appends every record of `records`, in order."""
        it = iter(records)
        write = self._write
        while True:
            buf = self._buf
            if buf is None:
                buf = self._buf = bytearray(8)
            count, done = write(it, buf, self._target)
            self._rows += count
            if done:
                return
            self._flush()

    def _flush(self) -> None:
        buf = self._buf
        if buf is not None:
            if self._rows:
                _HEADER.pack_into(buf, 0, self._rows, len(self.schema))
                self._batches.append(bytes(buf))
            self._buf = None
            self._rows = 0

    def take_batches(self) -> list[bytes]:
        """Every batch emitted since the last call, in order; ends the current one."""
        self._flush()
        batches, self._batches = self._batches, []
        return batches

    def discard(self) -> None:
        """Drops what was emitted: a failed call's output is never sent."""
        self._buf = None
        self._rows = 0
        self._batches = []
