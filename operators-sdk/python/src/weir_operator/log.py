"""Logging into the runtime's logs, attributed to the operator instance.

The runtime rate-limits what an instance logs and counts the excess. Each
call crosses into the host, so log per batch rather than per record. With
arguments, the message is %-formatted only when the level is enabled::

    log.info("loaded %d rules", len(rules))

`print` and writes to `sys.stderr` reach the same logs, at `info` and `warn`.
"""

from __future__ import annotations

import enum
from typing import Any

from . import _host

__all__ = ["Level", "log", "enabled", "trace", "debug", "info", "warn", "error"]


class Level(enum.IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


def enabled(level: Level) -> bool:
    """Whether an event of `level` would be kept."""
    return _host.backend.log_enabled(int(level))


def log(level: Level, message: str, *args: Any) -> None:
    """Writes one event; ``message % args`` when there are args."""
    if args:
        if not _host.backend.log_enabled(int(level)):
            return
        message = message % args
    _host.backend.log(int(level), str(message))


def trace(message: str, *args: Any) -> None:
    log(Level.TRACE, message, *args)


def debug(message: str, *args: Any) -> None:
    log(Level.DEBUG, message, *args)


def info(message: str, *args: Any) -> None:
    log(Level.INFO, message, *args)


def warn(message: str, *args: Any) -> None:
    log(Level.WARN, message, *args)


def error(message: str, *args: Any) -> None:
    log(Level.ERROR, message, *args)
