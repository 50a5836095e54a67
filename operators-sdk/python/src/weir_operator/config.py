"""Typed configuration: the operator's `config` from the job spec, checked
against a dataclass.

A job spec is YAML with camelCase field names; Python attributes are
snake_case. A dataclass field `min_length` is therefore read from the JSON key
`minLength` (give another key with ``field(metadata={"json": "min-len"})``).
Unknown keys, missing required fields and values of the wrong type are
`InvalidConfig` errors that name the field, so a typo in a job spec fails the
job before any record flows instead of being ignored.

Supported annotations: `bool`, `int`, `float` (ints are accepted), `str`,
`None`, `Any`, `X | None` and other unions, `Literal[...]`, `Enum`
subclasses (by value), `list[X]`, `tuple[X, ...]`, `dict[str, X]` and nested
dataclasses.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from typing import Any, TypeVar

from .errors import InvalidConfig

__all__ = ["parse_config", "json_name"]

T = TypeVar("T")


class _Problem(Exception):
    """A value that does not fit its annotation, at a path of the config."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def json_name(field: dataclasses.Field[Any]) -> str:
    """The JSON key of a dataclass field: its `json` metadata, else its name in
    camelCase."""
    explicit = field.metadata.get("json")
    if explicit is not None:
        return str(explicit)
    head, *rest = field.name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse_config(text: str, cls: type[T] | None, operator_name: str) -> Any:
    """Parses a JSON config; into an instance of dataclass `cls` when given,
    else into a dict."""
    prefix = f"invalid config of operator `{operator_name}`"
    if not text.strip():
        text = "{}"
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InvalidConfig(f"{prefix}: not JSON: {e}") from None
    if cls is None:
        if not isinstance(data, dict):
            raise InvalidConfig(f"{prefix}: expected an object, found {_describe(data)}")
        return data
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"a config class must be a dataclass, not {cls!r}")
    try:
        return _convert(data, cls, "")
    except _Problem as p:
        where = f": field `{p.path}`" if p.path else ""
        raise InvalidConfig(f"{prefix}{where}: {p.message}") from None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({json.dumps(value)})"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _convert(value: Any, annotation: Any, path: str) -> Any:
    if annotation is Any or annotation is object:
        return value
    if annotation is type(None) or annotation is None:
        if value is not None:
            raise _Problem(path, f"expected null, found {_describe(value)}")
        return None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return _convert_union(value, typing.get_args(annotation), path)
    if origin is typing.Literal:
        options = typing.get_args(annotation)
        for option in options:
            if value == option and type(value) is type(option):
                return option
        allowed = ", ".join(json.dumps(o) for o in options)
        raise _Problem(path, f"expected one of {allowed}, found {_describe(value)}")
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        if not isinstance(value, list):
            raise _Problem(path, f"expected an array, found {_describe(value)}")
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, list):
            raise _Problem(path, f"expected an array, found {_describe(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Problem(path, f"expected an array of {len(args)} items, found {len(value)}")
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        key_type, item = typing.get_args(annotation) or (str, Any)
        if key_type is not str:
            raise TypeError(
                f"config field `{path}`: JSON object keys are strings, not {key_type!r}"
            )
        if not isinstance(value, dict):
            raise _Problem(path, f"expected an object, found {_describe(value)}")
        return {k: _convert(v, item, _join(path, k)) for k, v in value.items()}
    if isinstance(annotation, type):
        if dataclasses.is_dataclass(annotation):
            return _convert_dataclass(value, annotation, path)
        if issubclass(annotation, enum.Enum):
            for member in annotation:
                if member.value == value and type(member.value) is type(value):
                    return member
            allowed = ", ".join(json.dumps(m.value) for m in annotation)
            raise _Problem(path, f"expected one of {allowed}, found {_describe(value)}")
        if annotation is bool:
            if not isinstance(value, bool):
                raise _Problem(path, f"expected a boolean, found {_describe(value)}")
            return value
        if annotation is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Problem(path, f"expected an integer, found {_describe(value)}")
            return value
        if annotation is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Problem(path, f"expected a number, found {_describe(value)}")
            return float(value)
        if annotation is str:
            if not isinstance(value, str):
                raise _Problem(path, f"expected a string, found {_describe(value)}")
            return value
    raise TypeError(f"config field `{path}`: unsupported annotation {annotation!r}")


def _convert_union(value: Any, options: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in options:
        return None
    problems = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(value, option, path)
        except _Problem as p:
            problems.append(p)
    if len(problems) == 1:
        raise problems[0]
    raise _Problem(path, f"{_describe(value)} fits none of the allowed types")


def _convert_dataclass(value: Any, cls: type, path: str) -> Any:
    if not isinstance(value, dict):
        raise _Problem(path, f"expected an object, found {_describe(value)}")
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    by_key = {json_name(f): f for f in fields}
    for key in value:
        if key not in by_key:
            known = ", ".join(f"`{k}`" for k in by_key) or "none"
            raise _Problem(_join(path, key), f"unknown field (known fields: {known})")
    kwargs = {}
    for key, field in by_key.items():
        if key in value:
            kwargs[field.name] = _convert(value[key], hints[field.name], _join(path, key))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise _Problem(_join(path, key), "missing field")
    return cls(**kwargs)
