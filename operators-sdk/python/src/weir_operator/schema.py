"""Column types, fields and schemas of the records an operator exchanges."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from typing import overload

from .errors import InvalidConfig

__all__ = [
    "DataType",
    "Field",
    "Schema",
    "BOOLEAN",
    "INT64",
    "FLOAT64",
    "UTF8",
    "BINARY",
    "TIMESTAMP_MILLIS",
]


class DataType(enum.Enum):
    """The column types of a Weir stream, each one Arrow type.

    Values are the names used in job specs and in the WIT contract. In Python,
    a value of each type is: `bool`, `int`, `float`, `str`, `bytes`, and `int`
    (milliseconds since the Unix epoch, UTC) for `TIMESTAMP_MILLIS`; a null is
    `None`.
    """

    BOOLEAN = "boolean"
    INT64 = "int64"
    FLOAT64 = "float64"
    UTF8 = "utf8"
    BINARY = "binary"
    TIMESTAMP_MILLIS = "timestamp-millis"

    @property
    def tag(self) -> int:
        """The value tag of this type in the row encoding."""
        return _TAGS[self]

    @classmethod
    def parse(cls, name: str) -> DataType:
        """The type called `name` (`"utf8"`, `"timestamp-millis"`, ...)."""
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown data type {name!r} (known: {known})") from None


_TAGS = {
    DataType.BOOLEAN: 1,
    DataType.INT64: 2,
    DataType.FLOAT64: 3,
    DataType.UTF8: 4,
    DataType.BINARY: 5,
    DataType.TIMESTAMP_MILLIS: 6,
}

BOOLEAN = DataType.BOOLEAN
INT64 = DataType.INT64
FLOAT64 = DataType.FLOAT64
UTF8 = DataType.UTF8
BINARY = DataType.BINARY
TIMESTAMP_MILLIS = DataType.TIMESTAMP_MILLIS


class Field:
    """One column: a name unique within its schema, a type, and whether it
    may hold nulls (like a job spec's `nullable`, it defaults to true)."""

    __slots__ = ("name", "data_type", "nullable")

    name: str
    data_type: DataType
    nullable: bool

    def __init__(self, name: str, data_type: DataType | str, nullable: bool = True) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a field name must be a non-empty string, not {name!r}")
        if isinstance(data_type, str):
            data_type = DataType.parse(data_type)
        elif not isinstance(data_type, DataType):
            raise TypeError(f"field {name!r}: data_type must be a DataType, not {data_type!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "data_type", data_type)
        object.__setattr__(self, "nullable", bool(nullable))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Field is immutable")

    def describe(self) -> str:
        """`name: type` with `not null` where nulls are not allowed."""
        suffix = "" if self.nullable else " not null"
        return f"{self.name}: {self.data_type.value}{suffix}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return (self.name, self.data_type, self.nullable) == (
            other.name,
            other.data_type,
            other.nullable,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.data_type, self.nullable))

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.data_type.name}, nullable={self.nullable})"


class Schema:
    """The columns of every record of a stream, in order."""

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: Iterable[Field] = ()) -> None:
        fields = tuple(fields)
        index: dict[str, int] = {}
        for i, field in enumerate(fields):
            if not isinstance(field, Field):
                raise TypeError(f"a schema holds Fields, not {field!r}")
            if field.name in index:
                raise ValueError(f"the schema has two columns named {field.name!r}")
            index[field.name] = i
        self._fields = fields
        self._index = index

    @property
    def fields(self) -> tuple[Field, ...]:
        return self._fields

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self._fields)

    @overload
    def __getitem__(self, key: int) -> Field: ...
    @overload
    def __getitem__(self, key: str) -> Field: ...
    def __getitem__(self, key: int | str) -> Field:
        if isinstance(key, str):
            return self._fields[self.index_of(key)]
        return self._fields[key]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def index_of(self, name: str) -> int:
        """The position of column `name`.

        Raises `InvalidConfig` naming the column and listing those that exist:
        resolving input columns happens at `open`, where a missing column means
        the job wires the operator to the wrong input.
        """
        try:
            return self._index[name]
        except KeyError:
            raise InvalidConfig(
                f"the input has no column `{name}`; its columns are: {self.column_list()}"
            ) from None

    def column(self, name: str, data_type: DataType | None = None) -> int:
        """Like `index_of`, and also checks the column's type when given."""
        i = self.index_of(name)
        field = self._fields[i]
        if data_type is not None and field.data_type is not data_type:
            raise InvalidConfig(
                f"the input column `{name}` is {field.data_type.value}, expected {data_type.value}"
            )
        return i

    def column_list(self) -> str:
        """`name: type` of every column, for messages."""
        if not self._fields:
            return "(none)"
        return ", ".join(f"{f.name}: {f.data_type.value}" for f in self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        return f"Schema([{', '.join(map(repr, self._fields))}])"
