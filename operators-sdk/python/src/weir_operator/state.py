"""Keyed state owned by the runtime.

State survives failures because it lives in the host, not in the component's
memory: the runtime snapshots it at checkpoints, restores it after a failure
and redistributes it by key when a job is rescaled. It is scoped to a key of
the operator's keyed input (`keyBy` in the job spec); build a record's key
with `OpenContext.key_of`. Every operation takes a whole batch of keys: one
host call per batch, not per record.

Values are bytes; encode them as you like (`struct`, JSON, ...). A failed
host call raises `HostError` (kind `host`) carrying the runtime's message,
for example when the operator's input is not keyed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import _host

__all__ = ["ValueState", "MapState", "ListState"]


def _bytes(value: Any) -> bytes:
    # The component boundary takes `bytes` only; accept any bytes-like value.
    return value if type(value) is bytes else bytes(value)


def _opt(value: Any) -> bytes | None:
    return None if value is None else _bytes(value)


class _State:
    _kind = ""

    def __init__(self, name: str, handle: Any) -> None:
        self.name = name
        self._handle = handle

    @classmethod
    def open(cls, name: str) -> Any:
        """Opens (creating on first use) the state called `name`. The same
        name always opens the same state, also after a restore: open it once,
        in `open`, and keep it."""
        return cls(name, _host.backend.open_state(cls._kind, name))

    def _call(self, method: str, *args: Any) -> Any:
        return _host.backend.call(
            f"{self._kind} `{self.name}`", getattr(self._handle, method), *args
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class ValueState(_State):
    """One value per key."""

    _kind = "value state"

    def get(self, keys: Iterable[bytes]) -> list[bytes | None]:
        """The value of each key, in order; None where a key has none."""
        return self._call("get", [_bytes(k) for k in keys])

    def put(self, entries: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Sets each key's value, in order; None clears it."""
        self._call("put", [(_bytes(k), _opt(v)) for k, v in entries])


class MapState(_State):
    """A map from user keys to values, per key."""

    _kind = "map state"

    def get(self, lookups: Iterable[tuple[bytes, bytes]]) -> list[bytes | None]:
        """The value under each (key, user key), in order."""
        return self._call("get", [(_bytes(k), _bytes(u)) for k, u in lookups])

    def put(self, entries: Iterable[tuple[bytes, bytes, bytes | None]]) -> None:
        """Sets (or with None, removes) the value under each (key, user key)."""
        self._call("put", [(_bytes(k), _bytes(u), _opt(v)) for k, u, v in entries])

    def entries(self, key: bytes) -> list[tuple[bytes, bytes]]:
        """Every (user key, value) of one key, in user-key byte order."""
        return self._call("entries", _bytes(key))

    def clear(self, keys: Iterable[bytes]) -> None:
        """Removes the whole map of each key."""
        self._call("clear", [_bytes(k) for k in keys])


class ListState(_State):
    """An append-only list of values, per key."""

    _kind = "list state"

    def get(self, keys: Iterable[bytes]) -> list[list[bytes]]:
        """The list of each key, in order (empty where a key has none)."""
        return self._call("get", [_bytes(k) for k in keys])

    def append(self, entries: Iterable[tuple[bytes, bytes]]) -> None:
        """Appends each value to its key's list."""
        self._call("append", [(_bytes(k), _bytes(v)) for k, v in entries])

    def clear(self, keys: Iterable[bytes]) -> None:
        """Empties the list of each key."""
        self._call("clear", [_bytes(k) for k in keys])
