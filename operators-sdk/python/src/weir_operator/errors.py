"""Errors an operator raises, and how any exception becomes an operator error.

The runtime decides what to do from an error's kind: `invalid-config` fails
the job at once (restarting cannot help), the others fail the task and let the
job's restart strategy apply. Raise the class that says what went wrong; any
other exception escaping operator code is reported as `internal` with
``"ExceptionType: message"``.
"""

from __future__ import annotations

import enum

__all__ = [
    "ErrorKind",
    "OperatorError",
    "InvalidConfig",
    "InvalidInput",
    "HostError",
    "InternalError",
    "classify",
]


class ErrorKind(enum.Enum):
    """Mirrors `error-kind` of the WIT contract; values are its spellings."""

    INVALID_CONFIG = "invalid-config"
    INVALID_INPUT = "invalid-input"
    HOST = "host"
    INTERNAL = "internal"


class OperatorError(Exception):
    """An error with a kind the runtime understands. Raise a subclass."""

    kind: ErrorKind = ErrorKind.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = str(message)

    def __str__(self) -> str:
        return self.message


class InvalidConfig(OperatorError):
    """The operator's configuration is unusable; the job fails without restarting."""

    kind = ErrorKind.INVALID_CONFIG


class InvalidInput(OperatorError):
    """A record could not be processed (a bad value, unparsable text)."""

    kind = ErrorKind.INVALID_INPUT


class HostError(OperatorError):
    """A call into the runtime (keyed state, timers) failed.

    `cause` is the host's reason: ``"unavailable"``, ``"limit-exceeded"`` or
    ``"invalid-argument"``.
    """

    kind = ErrorKind.HOST

    def __init__(self, message: str, cause: str = "unavailable") -> None:
        super().__init__(message)
        self.cause = cause


class InternalError(OperatorError):
    """A bug or an unexpected condition in the operator."""

    kind = ErrorKind.INTERNAL


def classify(error: BaseException) -> tuple[ErrorKind, str]:
    """The kind and message the runtime receives for `error`."""
    if isinstance(error, OperatorError):
        return error.kind, error.message
    text = str(error)
    name = type(error).__name__
    return ErrorKind.INTERNAL, f"{name}: {text}" if text else name
