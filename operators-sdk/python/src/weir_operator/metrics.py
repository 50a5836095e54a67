"""User metrics, exported by the runtime next to its own (Prometheus names
get the job and operator as prefix). Each call crosses into the host: update
metrics per batch, not per record."""

from __future__ import annotations

from . import _host

__all__ = ["counter_add", "gauge_set"]

_U64_MAX = (1 << 64) - 1


def counter_add(name: str, delta: int = 1) -> None:
    """Adds `delta` (a non-negative integer) to a monotonic counter, created on
    first use."""
    if isinstance(delta, bool) or not isinstance(delta, int) or not 0 <= delta <= _U64_MAX:
        raise ValueError(f"counter `{name}`: a delta is an integer from 0 to 2^64-1, not {delta!r}")
    _host.backend.counter_add(name, delta)


def gauge_set(name: str, value: float) -> None:
    """Sets a gauge, created on first use."""
    _host.backend.gauge_set(name, float(value))
