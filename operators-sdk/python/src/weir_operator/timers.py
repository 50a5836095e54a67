"""Time, owned by the runtime: timers per key, registered here, fire through
`Operator.on_timer` and are part of checkpointed state.

Outside a Weir runtime registering fails with `HostError`, there is no
watermark, and processing time is the system clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from . import _host

__all__ = [
    "TimeDomain",
    "Timer",
    "register",
    "delete",
    "current_watermark",
    "current_processing_time",
]


class TimeDomain(enum.Enum):
    #: Fires when the watermark passes the timestamp.
    EVENT_TIME = "event-time"
    #: Fires when the runtime's clock passes the timestamp.
    PROCESSING_TIME = "processing-time"


@dataclass(frozen=True)
class Timer:
    """A timer for one key (see `OpenContext.key_of`), at `timestamp`
    milliseconds since the Unix epoch."""

    key: bytes
    timestamp: int
    domain: TimeDomain = TimeDomain.EVENT_TIME


def register(timers: Iterable[Timer]) -> None:
    """Registers timers; the same (key, timestamp, domain) twice keeps one."""
    _host.backend.register_timers(list(timers))


def delete(timers: Iterable[Timer]) -> None:
    """Deletes timers registered earlier."""
    _host.backend.delete_timers(list(timers))


def current_watermark() -> int | None:
    """The operator's current watermark, if one has arrived."""
    return _host.backend.current_watermark()


def current_processing_time() -> int:
    """The runtime's clock in milliseconds since the Unix epoch. Unlike
    `time.time()`, whose clock reads the epoch inside the sandbox unless the
    job grants the wall clock, this is always the real time."""
    return _host.backend.current_processing_time()
