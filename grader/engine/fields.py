"""Reading one TOML table of a spec with errors that name the file, the field and what is allowed."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any


class SpecError(ValueError):
    pass


NUMBER = (int, float)
KIND_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dict: "a table",
    list: "a list",
    datetime: "a date-time such as 2026-12-01T23:59:00Z",
}


def _kind_name(kind: type | tuple[type, ...]) -> str:
    if kind == NUMBER:
        return "a number"
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(KIND_NAMES.get(k, k.__name__) for k in kinds)


class Table:
    """A spec table; ``where`` is the path to it, e.g. ``assignments/x/assignment.toml: inputs.x``.

    Every field read is remembered, so ``finish`` can name any field that is not allowed.
    """

    def __init__(self, raw: Any, where: str, allowed: set[str]) -> None:
        if not isinstance(raw, dict):
            raise SpecError(f"{where}: expected a table, got {raw!r}")
        self.raw = raw
        self.where = where
        self.allowed = allowed
        extra = sorted(set(raw) - allowed)
        if extra:
            raise SpecError(
                f"{where}: unknown field {extra[0]!r}; allowed here: {', '.join(sorted(allowed))}"
            )

    def field(self, key: str) -> str:
        return f"{self.where}.{key}" if ": " in self.where else f"{self.where}: {key}"

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.raw:
            if default is ...:
                raise SpecError(f"{self.where}: missing field {key!r}")
            return default
        value = self.raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, date) and not isinstance(value, datetime) and datetime in kinds:
            raise SpecError(f"{self.field(key)}: give a time and time zone too, e.g. {value}T23:59:00Z")
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise SpecError(f"{self.field(key)}: expected {_kind_name(kind)}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{self.field(key)}: expected a finite number, got {value!r}")
        return value

    def number(self, key: str, default: Any = ...) -> Any:
        value = self.get(key, NUMBER, default)
        return float(value) if isinstance(value, (int, float)) else value

    def positive(self, key: str, kind: type | tuple[type, ...] = NUMBER, default: Any = ...) -> Any:
        value = self.get(key, kind, default)
        if value is not None and value is not default and value <= 0:
            raise SpecError(f"{self.field(key)}: must be greater than 0, got {value!r}")
        return float(value) if kind == NUMBER and value is not None else value

    def choice(self, key: str, allowed: list[str] | tuple[str, ...], default: Any = ...) -> Any:
        value = self.get(key, str, default)
        if value is not default and value not in allowed:
            raise SpecError(f"{self.field(key)}: {value!r} is not allowed; allowed: {', '.join(allowed)}")
        return value

    def table(self, key: str, allowed: set[str], default: Any = ...) -> Table:
        if key not in self.raw and default is not ...:
            return Table(default, self.field(key), allowed)
        return Table(self.get(key, dict), self.field(key), allowed)
