"""Run an operator in plain CPython, the way the runtime would.

`Harness` opens an operator with a context, then feeds it batches through the
same path a component takes: input records are encoded in the row encoding,
decoded by the SDK, processed, and the output batches decoded back into
tuples. Logs go to stderr; metrics land in `harness.counters` and
`harness.gauges`; keyed state and timers raise `HostError`, as in a job
without `keyBy`. Exceptions propagate unchanged, so tests can assert on them.

    h = Harness(Tokenize, Schema([Field("line", UTF8)]), config={"minLength": 2})
    assert h.process([("a bc",)]) == [("bc",)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _host
from ._runtime import Instance
from .context import OpenContext
from .operator import Operator
from .rows import decode_batch, encode_batch
from .schema import Schema
from .timers import Timer

__all__ = ["Harness"]


class Harness:
    """An opened operator instance, driven natively."""

    def __init__(
        self,
        operator: type[Operator] | Callable[..., Any],
        input_schema: Schema,
        config: str | Mapping[str, Any] = "{}",
        **context: Any,
    ) -> None:
        operator_class = getattr(operator, "operator", operator)
        self.host = _host.NativeHost()
        self.context = OpenContext(input_schema, config, **context)
        self._previous = _host.install(self.host)
        try:
            self.instance = Instance(operator_class, self.context)
        finally:
            _host.install(self._previous)
        self.output_schema = self.instance.output_schema
        self.batches: list[bytes] = []

    @property
    def operator(self) -> Operator:
        return self.instance.operator

    @property
    def counters(self) -> dict[str, int]:
        return self.host.counters

    @property
    def gauges(self) -> dict[str, float]:
        return self.host.gauges

    def _run(self, method: Callable[..., list[bytes]], *args: Any) -> list[tuple[Any, ...]]:
        previous = _host.install(self.host)
        try:
            batches = method(*args)
        finally:
            _host.install(previous)
        self.batches = batches
        out: list[tuple[Any, ...]] = []
        for batch in batches:
            out.extend(decode_batch(batch, self.output_schema))
        return out

    def process(self, records: Iterable[Any]) -> list[tuple[Any, ...]]:
        """Processes one input batch of `records` (tuples in input order or
        dicts); returns the output records as tuples."""
        data = encode_batch(records, self.context.input_schema)
        return self._run(self.instance.process, data)

    def process_bytes(self, data: bytes) -> list[tuple[Any, ...]]:
        """Processes one input batch given as encoded bytes."""
        return self._run(self.instance.process, data)

    def on_watermark(self, watermark: int) -> list[tuple[Any, ...]]:
        return self._run(self.instance.on_watermark, watermark)

    def on_timer(self, timers: Iterable[Timer]) -> list[tuple[Any, ...]]:
        return self._run(self.instance.on_timer, list(timers))

    def close(self) -> list[tuple[Any, ...]]:
        return self._run(self.instance.close)
