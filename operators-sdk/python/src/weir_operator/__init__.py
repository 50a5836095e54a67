"""Write Weir stream operators in Python.

A Weir operator is a WebAssembly component the runtime calls once per batch
of records. This package hides the component plumbing: write a function per
record (`per_record`) or an `Operator` class (`export`), then build the
project with ``python -m weir_operator build PROJECT -o OUT.wasm``.

    from weir_operator import Field, Schema, UTF8, per_record

    @per_record(output=Schema([Field("word", UTF8, nullable=False)]), inputs=["line"])
    def split(record):
        for word in (record["line"] or "").split():
            yield {"word": word}
"""

from . import log, metrics, state, timers
from .context import OpenContext
from .errors import (
    ErrorKind,
    HostError,
    InternalError,
    InvalidConfig,
    InvalidInput,
    OperatorError,
)
from .operator import Batch, Operator, export, per_record
from .schema import (
    BINARY,
    BOOLEAN,
    FLOAT64,
    INT64,
    TIMESTAMP_MILLIS,
    UTF8,
    DataType,
    Field,
    Schema,
)
from .timers import TimeDomain, Timer

__version__ = "0.1.0"

__all__ = [
    "BINARY",
    "BOOLEAN",
    "FLOAT64",
    "INT64",
    "TIMESTAMP_MILLIS",
    "UTF8",
    "Batch",
    "DataType",
    "ErrorKind",
    "Field",
    "HostError",
    "InternalError",
    "InvalidConfig",
    "InvalidInput",
    "OpenContext",
    "Operator",
    "OperatorError",
    "Schema",
    "TimeDomain",
    "Timer",
    "export",
    "log",
    "metrics",
    "per_record",
    "state",
    "timers",
]
