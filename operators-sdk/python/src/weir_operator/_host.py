"""The runtime's services (logs, metrics, state, timers) behind one object.

Inside a component the glue installs a backend that calls the WIT imports.
Everywhere else (unit tests, a REPL) `NativeHost` stands in: logs go to
stderr, metrics are kept in dicts for tests to read, and state and timers
report themselves unavailable, as a runtime does for an unkeyed input.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

from .errors import HostError


class Host(Protocol):
    def log(self, level: int, message: str) -> None: ...
    def log_enabled(self, level: int) -> bool: ...
    def counter_add(self, name: str, delta: int) -> None: ...
    def gauge_set(self, name: str, value: float) -> None: ...
    def open_state(self, kind: str, name: str) -> Any: ...
    def call(self, what: str, method: Callable[..., Any], *args: Any) -> Any: ...
    def register_timers(self, timers: list[Any]) -> None: ...
    def delete_timers(self, timers: list[Any]) -> None: ...
    def current_watermark(self) -> int | None: ...
    def current_processing_time(self) -> int: ...


_LEVEL_NAMES = ("trace", "debug", "info", "warn", "error")

_OUTSIDE = "there is no Weir runtime here (the operator runs natively, as in a unit test)"


class NativeHost:
    """The host outside a Weir runtime."""

    def __init__(self, min_level: int = 2) -> None:
        self.min_level = min_level
        self.counters: dict[str, int] = {}
        self.gauges: dict[str, float] = {}

    def log(self, level: int, message: str) -> None:
        if level >= self.min_level:
            print(f"[{_LEVEL_NAMES[level]}] {message}", file=sys.stderr)

    def log_enabled(self, level: int) -> bool:
        return level >= self.min_level

    def counter_add(self, name: str, delta: int) -> None:
        self.counters[name] = self.counters.get(name, 0) + delta

    def gauge_set(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def open_state(self, kind: str, name: str) -> Any:
        raise HostError(f"{kind} `{name}`: unavailable: {_OUTSIDE}", "unavailable")

    def call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        return method(*args)

    def register_timers(self, timers: list[Any]) -> None:
        raise HostError(f"registering timers: unavailable: {_OUTSIDE}", "unavailable")

    def delete_timers(self, timers: list[Any]) -> None:
        raise HostError(f"deleting timers: unavailable: {_OUTSIDE}", "unavailable")

    def current_watermark(self) -> int | None:
        return None

    def current_processing_time(self) -> int:
        return time.time_ns() // 1_000_000


backend: Host = NativeHost()


def install(host: Host) -> Host:
    """Makes `host` serve every later call; returns the previous one."""
    global backend
    previous, backend = backend, host
    return previous
