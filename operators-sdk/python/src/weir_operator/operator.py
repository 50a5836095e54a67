"""The two ways to write an operator: a class, or a function per record.

**A class.** Subclass `Operator`, implement `open` (return the output schema)
and `process` (one record in, records out) or `process_batch` (a whole batch
in), decorate it with `@export`::

    @export
    class Upper(Operator):
        def open(self, ctx):
            self.line = ctx.input_schema.index_of("line")
            return Schema([Field("upper", UTF8, nullable=False)])

        def process(self, record):
            return {"upper": record["line"].upper()}

**A function.** `@per_record(output=...)` turns a function of one record into
an operator; give `config=` a dataclass to receive the parsed configuration
as a second argument.

What a method or function returns is its output: None for nothing, one
record (a dict by column name, a tuple in column order, or a dataclass
instance), or an iterable of records (a list, a generator: ``yield`` works).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Iterator
from types import GeneratorType
from typing import Any, TypeVar

from .context import OpenContext
from .errors import InternalError
from .schema import Schema
from .timers import Timer

__all__ = ["Operator", "Batch", "export", "per_record", "exported", "the_exported"]

#: What operator code returns: None, one record, or an iterable of records.
Records = Any

OperatorClass = TypeVar("OperatorClass", bound=type)


class Batch:
    """One input batch: `rows` holds a tuple per record, values in the order
    of `schema`. Iterating a batch yields those tuples; `records()` yields
    dicts instead, and `column(name)` the values of one column."""

    __slots__ = ("schema", "rows")

    def __init__(self, schema: Schema, rows: list[tuple[Any, ...]]) -> None:
        self.schema = schema
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return self.rows[index]

    def records(self) -> Iterator[dict[str, Any]]:
        """Each record as a dict by column name."""
        names = self.schema.names
        return (dict(zip(names, row)) for row in self.rows)

    def column(self, name: str) -> list[Any]:
        """The values of one column, in record order."""
        i = self.schema.index_of(name)
        return [row[i] for row in self.rows]

    def __repr__(self) -> str:
        return f"Batch({len(self.rows)} records of {self.schema!r})"


def collect(result: Records, into: list[Any], where: str) -> None:
    """Adds what operator code returned to `into`, following the rule of the
    module documentation."""
    if result is None:
        return
    kind = type(result)
    if kind is dict or kind is tuple:
        into.append(result)
    elif kind is list or kind is GeneratorType:
        into.extend(result)
    elif isinstance(result, (dict, tuple)) or (
        dataclasses.is_dataclass(result) and not isinstance(result, type)
    ):
        into.append(result)
    elif isinstance(result, (str, bytes, bytearray)) or not isinstance(result, Iterable):
        raise InternalError(
            f"{where} returned a {kind.__name__}; return None, a record (a dict, a tuple or "
            "a dataclass instance) or an iterable of records"
        )
    else:
        into.extend(result)


def _map_records(call: Callable[..., Records], batch: Batch, where: str, *extra: Any) -> list[Any]:
    """Calls `call` with each record of `batch` as a dict (and `extra`);
    gathers the output.

    The per-record path of every operator runs through this loop, so it keeps
    the common cases (nothing, one dict or tuple, a list or generator) inline.
    """
    names = batch.schema.names
    out: list[Any] = []
    append = out.append
    extend = out.extend
    for row in batch.rows:
        result = call(dict(zip(names, row)), *extra)
        if result is None:
            continue
        kind = type(result)
        if kind is dict or kind is tuple:
            append(result)
        elif kind is GeneratorType or kind is list:
            extend(result)
        else:
            collect(result, out, where)
    return out


class Operator:
    """Base class of operators. The runtime creates one instance per parallel
    subtask (calling the class without arguments), calls `open` once, then
    `process_batch` per input batch, `on_watermark`, `on_timer` and finally
    `close`. Calls never overlap.

    The instance lives in the component's memory, which is never
    checkpointed and may be discarded between two calls (the new instance is
    opened with the same context): what must survive a failure belongs in
    keyed state.
    """

    def open(self, ctx: OpenContext) -> Schema:
        """Validates the configuration, resolves input columns and returns the
        output schema. Raise `InvalidConfig` to fail the job before any record
        flows."""
        raise NotImplementedError(f"{type(self).__name__} does not implement open")

    def process(self, record: dict[str, Any]) -> Records:
        """Processes one record, a dict by column name."""
        raise NotImplementedError(
            f"{type(self).__name__} implements neither process nor process_batch"
        )

    def process_batch(self, batch: Batch) -> Records:
        """Processes one batch. The default calls `process` for every record;
        override it for logic that concerns the batch as a whole, or to work
        on tuples (`batch.rows`) without building a dict per record."""
        return _map_records(self.process, batch, f"{type(self).__name__}.process")

    def on_watermark(self, watermark: int) -> Records:
        """Event time has advanced to `watermark` (milliseconds since the Unix
        epoch): all records at or before it have arrived, except late ones."""
        return None

    def on_timer(self, timer: Timer) -> Records:
        """A registered timer is due. Timers of one call arrive in timestamp
        order."""
        return None

    def close(self) -> Records:
        """The input has ended: return what the operator still holds."""
        return None


_exported: list[type[Operator]] = []


def export(cls: OperatorClass) -> OperatorClass:
    """Marks an `Operator` subclass as the operator of its component. Use it
    once per component, as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Operator)):
        raise TypeError(f"@export takes a subclass of weir_operator.Operator, not {cls!r}")
    _exported.append(cls)
    return cls


def exported() -> list[type[Operator]]:
    """Every operator class exported so far, in order."""
    return list(_exported)


def the_exported(module: str) -> type[Operator]:
    """The one operator a component exports, once its module `module` is
    imported; a clear error when there is none or more than one."""
    if len(_exported) == 1:
        return _exported[0]
    if not _exported:
        raise RuntimeError(
            f"module `{module}` exports no operator: decorate an Operator subclass "
            "with @weir_operator.export, or a function with @weir_operator.per_record"
        )
    names = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in _exported)
    raise RuntimeError(f"a component exports one operator, but these are exported: {names}")


def per_record(
    output: Schema,
    *,
    config: type | None = None,
    inputs: Iterable[str] = (),
) -> Callable[[Callable[..., Records]], Callable[..., Records]]:
    """Exports a function of one record as the component's operator.

    `output` is the output schema. `inputs` names input columns that must
    exist (checked at open). With `config`, a dataclass, the function is
    called as ``fn(record, config)`` with the parsed configuration; without,
    as ``fn(record)``. The record is a dict by column name.

    The decorated function is returned unchanged (handy in unit tests); its
    operator class is its `operator` attribute.
    """
    if not isinstance(output, Schema):
        raise TypeError(f"per_record(output=...) takes a Schema, not {output!r}")
    required = tuple(inputs)

    def decorate(fn: Callable[..., Records]) -> Callable[..., Records]:
        if inspect.isclass(fn) or not callable(fn):
            raise TypeError(
                f"@per_record decorates a function (export classes with @export), not {fn!r}"
            )
        where = getattr(fn, "__qualname__", repr(fn))

        class FunctionOperator(Operator):
            def open(self, ctx: OpenContext) -> Schema:
                for name in required:
                    ctx.input_schema.index_of(name)
                # The parsed config travels as an extra argument of each call.
                self._extra = () if config is None else (ctx.config(config),)
                return output

            def process(self, record: dict[str, Any]) -> Records:
                return fn(record, *self._extra)

            def process_batch(self, batch: Batch) -> Records:
                return _map_records(fn, batch, where, *self._extra)

        FunctionOperator.__name__ = FunctionOperator.__qualname__ = f"per_record({where})"
        FunctionOperator.__module__ = getattr(fn, "__module__", __name__)
        fn.operator = export(FunctionOperator)  # type: ignore[attr-defined]
        return fn

    return decorate
