"""One operator instance as the runtime drives it: bytes in, bytes out.

This is everything the component glue does apart from converting WIT types,
so it runs (and is tested) in plain CPython.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from . import log
from .context import OpenContext
from .errors import ErrorKind, InternalError, OperatorError, classify
from .operator import Batch, Operator, collect
from .rows import Output, decode_batch
from .schema import Schema
from .timers import Timer

R = TypeVar("R")


class Instance:
    """An opened operator with its input schema and output buffer."""

    def __init__(self, operator_class: Callable[[], Operator], ctx: OpenContext) -> None:
        operator = operator_class()
        schema = operator.open(ctx)
        name = type(operator).__name__
        if not isinstance(schema, Schema):
            raise InternalError(
                f"{name}.open returned a {type(schema).__name__}; it must return the output Schema"
            )
        self.operator = operator
        self.input_schema = ctx.input_schema
        self.output_schema = schema
        self.output = Output(schema)
        self._name = name
        self.calls = 0

    def process(self, data: bytes) -> list[bytes]:
        rows = decode_batch(data, self.input_schema)
        return self._finish(
            self.operator.process_batch, Batch(self.input_schema, rows), "process_batch"
        )

    def on_watermark(self, watermark: int) -> list[bytes]:
        return self._finish(self.operator.on_watermark, watermark, "on_watermark")

    def on_timer(self, timers: Iterable[Timer]) -> list[bytes]:
        def fire(fired: list[Timer]) -> list[Any]:
            out: list[Any] = []
            for timer in fired:
                collect(self.operator.on_timer(timer), out, f"{self._name}.on_timer")
            return out

        return self._finish(fire, list(timers), "on_timer")

    def close(self) -> list[bytes]:
        return self._finish(self.operator.close, None, "close", no_argument=True)

    def _finish(
        self, method: Callable[..., Any], argument: Any, what: str, no_argument: bool = False
    ) -> list[bytes]:
        self.calls += 1
        try:
            result = method() if no_argument else method(argument)
            if result is not None:
                pending: list[Any] = []
                collect(result, pending, f"{self._name}.{what}")
                self.output.extend(pending)
            return self.output.take_batches()
        except BaseException:
            # The runtime discards a failed call's output; the next call must
            # not send it either.
            self.output.discard()
            raise


def guarded(call: Callable[..., R], *args: Any) -> tuple[bool, R | tuple[ErrorKind, str]]:
    """Runs `call`, turning what it raises into an operator error.

    Returns ``(True, result)`` or ``(False, (kind, message))``. An exception
    other than an `OperatorError` is a bug in the operator: its traceback goes
    to the runtime's logs, and the runtime gets ``"ExceptionType: message"``.
    `MemoryError` is let through: the instance hit its memory limit, which
    the runtime reports itself once the call traps, and an instance whose
    allocations fail is no longer fit to answer.
    """
    try:
        return True, call(*args)
    except MemoryError:
        raise
    except BaseException as e:  # noqa: BLE001 - every failure must become an answer
        kind, message = classify(e)
        if not isinstance(e, OperatorError):
            try:
                log.error("".join(traceback.format_exception(e)).rstrip())
            except Exception:  # noqa: BLE001 - reporting must not mask the error
                pass
        return False, (kind, message)
