"""What the runtime tells an operator instance when it opens."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from .config import parse_config
from .errors import InvalidConfig
from .rows import encode_key
from .schema import Schema

__all__ = ["OpenContext"]

T = TypeVar("T")


class OpenContext:
    """The operator's name, configuration, input schema and place in the job.

    The runtime builds one for every instance it opens. Tests build their own:
    ``OpenContext(schema, config={"lowercase": False})``.
    """

    def __init__(
        self,
        input_schema: Schema,
        config: str | Mapping[str, Any] = "{}",
        *,
        operator_name: str = "operator",
        key_fields: Iterable[str] = (),
        subtask_index: int = 0,
        parallelism: int = 1,
        attempt: int = 0,
    ) -> None:
        self.operator_name = operator_name
        self.config_json = config if isinstance(config, str) else json.dumps(dict(config))
        self.input_schema = input_schema
        self.key_fields: tuple[str, ...] = tuple(key_fields)
        self.subtask_index = subtask_index
        self.parallelism = parallelism
        self.attempt = attempt
        self._key_indexes: tuple[int, ...] | None = None

    @overload
    def config(self) -> dict[str, Any]: ...
    @overload
    def config(self, cls: type[T]) -> T: ...
    def config(self, cls: type[Any] | None = None) -> Any:
        """The `config` of the job spec: a dict, or an instance of the
        dataclass `cls` (see `weir_operator.config`). A job spec without
        `config` gives ``{}``, so `cls` gets its defaults. Problems raise
        `InvalidConfig` naming the field."""
        return parse_config(self.config_json, cls, self.operator_name)

    def key_indexes(self) -> tuple[int, ...]:
        """The input positions of `key_fields`."""
        if self._key_indexes is None:
            self._key_indexes = tuple(self.input_schema.index_of(n) for n in self.key_fields)
        return self._key_indexes

    def key_of(self, record: Sequence[Any] | Mapping[str, Any]) -> bytes:
        """The keyed-state key of an input record (a tuple in input order, or
        a dict by column name): its key columns' values in the row encoding."""
        if not self.key_fields:
            raise InvalidConfig(
                f"operator `{self.operator_name}` needs a keyed input: "
                "give it `keyBy` in the job spec"
            )
        indexes = self.key_indexes()
        fields = [self.input_schema.fields[i] for i in indexes]
        if isinstance(record, Mapping):
            values = [record[f.name] for f in fields]
        else:
            values = [record[i] for i in indexes]
        return encode_key(values, fields)

    def __repr__(self) -> str:
        return (
            f"OpenContext(operator_name={self.operator_name!r}, config={self.config_json!r}, "
            f"input_schema={self.input_schema!r}, key_fields={self.key_fields!r}, "
            f"subtask_index={self.subtask_index}, parallelism={self.parallelism}, "
            f"attempt={self.attempt})"
        )
