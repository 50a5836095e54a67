"""The component glue: the WIT world's exports and imports, bound to the SDK.

Only a component imports this module: `wit_world` and `componentize_py_types`
exist while componentize-py builds one, not in plain CPython. The entry
module that `python -m weir_operator build` generates imports it together
with the operator's module, so all of it is loaded (and snapshotted) at build
time.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import componentize_py_types
import wit_world
import wit_world.exports
from wit_world.exports import handler as wit_handler
from wit_world.imports import keyed_state as wit_state
from wit_world.imports import log as wit_log
from wit_world.imports import metrics as wit_metrics
from wit_world.imports import timers as wit_timers
from wit_world.imports import types as wit_types

from . import _host
from ._runtime import Instance, guarded
from .context import OpenContext
from .errors import ErrorKind, HostError, InternalError
from .operator import the_exported
from .schema import DataType, Field, Schema
from .timers import TimeDomain, Timer

_Err = componentize_py_types.Err

_LEVELS = tuple(wit_log.Level(i) for i in range(5))

_CAUSES = {
    wit_types.HostError_Unavailable: "unavailable",
    wit_types.HostError_LimitExceeded: "limit-exceeded",
    wit_types.HostError_InvalidArgument: "invalid-argument",
}

_STATES = {
    "value state": wit_state.ValueState,
    "map state": wit_state.MapState,
    "list state": wit_state.ListState,
}

_TO_WIT_DOMAIN = {
    TimeDomain.EVENT_TIME: wit_timers.TimeDomain.EVENT_TIME,
    TimeDomain.PROCESSING_TIME: wit_timers.TimeDomain.PROCESSING_TIME,
}
_FROM_WIT_DOMAIN = {v: k for k, v in _TO_WIT_DOMAIN.items()}

_ERROR_KINDS = {
    ErrorKind.INVALID_CONFIG: wit_types.ErrorKind.INVALID_CONFIG,
    ErrorKind.INVALID_INPUT: wit_types.ErrorKind.INVALID_INPUT,
    ErrorKind.HOST: wit_types.ErrorKind.HOST,
    ErrorKind.INTERNAL: wit_types.ErrorKind.INTERNAL,
}


def _host_error(what: str, error: Any) -> HostError:
    value = getattr(error, "value", error)
    cause = _CAUSES.get(type(value), "unavailable")
    message = getattr(value, "value", value)
    return HostError(f"{what}: {cause.replace('-', ' ')}: {message}", cause)


class WitHost:
    """The runtime's services, through the component's imports."""

    def log(self, level: int, message: str) -> None:
        wit_log.log(_LEVELS[level], message)

    def log_enabled(self, level: int) -> bool:
        return wit_log.enabled(_LEVELS[level])

    def counter_add(self, name: str, delta: int) -> None:
        wit_metrics.counter_add(name, delta)

    def gauge_set(self, name: str, value: float) -> None:
        wit_metrics.gauge_set(name, value)

    def open_state(self, kind: str, name: str) -> Any:
        try:
            return _STATES[kind].open(name)
        except _Err as e:
            raise _host_error(f"{kind} `{name}`", e) from None

    def call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except _Err as e:
            raise _host_error(what, e) from None

    def register_timers(self, timers: list[Timer]) -> None:
        self.call("registering timers", wit_timers.register, [_timer_to_wit(t) for t in timers])

    def delete_timers(self, timers: list[Timer]) -> None:
        self.call("deleting timers", wit_timers.delete, [_timer_to_wit(t) for t in timers])

    def current_watermark(self) -> int | None:
        return wit_timers.current_watermark()

    def current_processing_time(self) -> int:
        return wit_timers.current_processing_time()


def _timer_to_wit(timer: Timer) -> Any:
    key = timer.key if type(timer.key) is bytes else bytes(timer.key)
    return wit_timers.Timer(key, int(timer.timestamp), _TO_WIT_DOMAIN[timer.domain])


def _timer_from_wit(timer: Any) -> Timer:
    return Timer(timer.key, timer.timestamp, _FROM_WIT_DOMAIN[timer.domain])


def _schema_from_wit(schema: Any) -> Schema:
    return Schema(Field(f.name, DataType[f.data_type.name], f.nullable) for f in schema.fields)


def _schema_to_wit(schema: Schema) -> Any:
    return wit_types.Schema(
        [wit_types.Field(f.name, wit_types.DataType[f.data_type.name], f.nullable) for f in schema]
    )


def _context_from_wit(context: Any) -> OpenContext:
    return OpenContext(
        _schema_from_wit(context.input_schema),
        context.config,
        operator_name=context.operator_name,
        key_fields=context.key_fields,
        subtask_index=context.subtask_index,
        parallelism=context.parallelism,
        attempt=context.attempt,
    )


def _fail(error: tuple[ErrorKind, str]) -> _Err:
    kind, message = error
    return _Err(wit_types.OperatorError(_ERROR_KINDS[kind], message))


def handler_for(module: types.ModuleType) -> type:
    """The `Handler` class that componentize-py exports, driving the one
    operator the component's modules exported."""
    operator_class = the_exported(module.__name__)
    _host.install(WitHost())
    # componentize-py may create a Handler per call, so the one instance of
    # the component lives here rather than on a Handler.
    slot: list[Instance] = []

    class Handler(wit_world.exports.Handler):
        def _current(self) -> Instance:
            if not slot:
                raise InternalError("the operator was called before `open` succeeded")
            return slot[0]

        def open(self, context: Any) -> Any:
            slot.clear()
            ok, value = guarded(Instance, operator_class, _context_from_wit(context))
            if not ok:
                raise _fail(value)
            slot.append(value)
            return wit_handler.OpenResult(
                _schema_to_wit(value.output_schema), wit_types.Encoding.ROWS
            )

        def process(self, input: bytes) -> list[bytes]:
            ok, value = guarded(lambda: self._current().process(input))
            if not ok:
                raise _fail(value)
            return value

        def on_watermark(self, watermark: int) -> list[bytes]:
            ok, value = guarded(lambda: self._current().on_watermark(watermark))
            if not ok:
                raise _fail(value)
            return value

        def on_timer(self, fired: list[Any]) -> list[bytes]:
            ok, value = guarded(
                lambda: self._current().on_timer([_timer_from_wit(t) for t in fired])
            )
            if not ok:
                raise _fail(value)
            return value

        def close(self) -> list[bytes]:
            ok, value = guarded(lambda: self._current().close())
            if not ok:
                raise _fail(value)
            return value

    return Handler
