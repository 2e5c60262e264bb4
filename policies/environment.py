"""Environment variables over a config-file table: ``KEYSTILE_<TABLE>_<OPTION>``.

Containers configure by environment, so every option of the ``[gateway]`` and ``[smtp]``
tables can also be set as, say, ``KEYSTILE_GATEWAY_STALE_BOUND=10`` or
``KEYSTILE_SMTP_HOST=mail.internal``; the variable wins over the file.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from policies.errors import ConfigError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def variable(table: str, option: str) -> str:
    return f"KEYSTILE_{table}_{option}".upper()


def overlay(
    table: str, values: Mapping[str, Any], schema: type, environ: Mapping[str, str]
) -> dict[str, Any]:
    """``values`` (from the file) with the environment's variables for ``schema``'s fields."""
    if not is_dataclass(schema):
        raise TypeError(f"{schema!r} is not a dataclass")
    hints = typing.get_type_hints(schema)
    merged = dict(values)
    for option in (f.name for f in fields(schema)):
        name = variable(table, option)
        if name in environ:
            merged[option] = _convert(environ[name], hints[option], name)
    return merged


def _convert(text: str, hint: Any, name: str) -> Any:
    kind = _plain(hint)
    try:
        if kind is bool:
            word = text.strip().lower()
            if word not in _TRUE | _FALSE:
                raise ValueError
            return word in _TRUE
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        what = {bool: "true or false", int: "a whole number", float: "a number"}[kind]
        raise ConfigError(f"{name} must be {what}, not {text!r}") from None
    if kind is list:
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def _plain(hint: Any) -> type:
    """The one runtime type a field's annotation asks for (``str | None`` -> ``str``)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        kinds = [_plain(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else str
    if origin is typing.Literal:
        return type(typing.get_args(hint)[0])
    if origin is not None and isinstance(origin, type) and issubclass(origin, Iterable):
        return str if issubclass(origin, str) else list
    if hint in (bool, int, float, str):
        return typing.cast(type, hint)
    if isinstance(hint, type) and issubclass(hint, Collection) and not issubclass(hint, str):
        return list
    return str
