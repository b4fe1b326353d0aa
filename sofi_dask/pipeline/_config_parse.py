"""Validation machinery of the run configuration: ``parse_*`` value checks, sections, TOML text.

Each configuration field is a dataclass field whose metadata holds a :class:`Spec` (how to
parse and what is expected) and a help line; :func:`parse_section` builds a frozen section
from a mapping, rejecting unknown keys and wrong types with a :class:`ConfigError` that names
the dotted key (``deconvolution.lam: expected a float > 1, got 'abc'``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or key is wrong; ``key`` is its dotted path (``""`` for the root).

    Examples
    --------
    >>> str(ConfigError("deconvolution.lam", "expected a float > 1, got 'abc'"))
    "deconvolution.lam: expected a float > 1, got 'abc'"
    """

    def __init__(self, key: str, message: str, *, source: str | None = None) -> None:
        self.key = key
        self.message = message
        self.source = source
        where = ": ".join(p for p in (source, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class _Invalid(Exception):
    """Raised by a Spec's parse function; turned into a ConfigError naming the key."""


@dataclasses.dataclass(frozen=True)
class Spec:
    """How one field is parsed (``parse`` raises ``_Invalid``) and what it expects, in words."""

    parse: Callable[[Any], Any]
    expected: str

    def __call__(self, value: Any, key: str) -> Any:
        try:
            return self.parse(value)
        except _Invalid:
            raise ConfigError(key, f"expected {self.expected}, got {value!r}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_bool() -> Spec:
    """``true`` or ``false`` (no 0/1, no strings)."""

    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise _Invalid
        return value

    return Spec(parse, "true or false")


def parse_int(minimum: int | None = None, *, odd: bool = False) -> Spec:
    """An integer (not a bool, not a float), optionally ``>= minimum`` and odd."""
    words = "an odd int" if odd else "an int"
    if minimum is not None:
        words += f" >= {minimum}"

    def parse(value: Any) -> int:
        if not _is_int(value) or (minimum is not None and value < minimum):
            raise _Invalid
        if odd and value % 2 == 0:
            raise _Invalid
        return int(value)

    return Spec(parse, words)


def parse_float(
    *, gt: float | None = None, ge: float | None = None, lt: float | None = None
) -> Spec:
    """A finite real number (ints accepted and converted), with optional bounds."""
    bounds = []
    if gt is not None:
        bounds.append(f"> {gt:g}")
    if ge is not None:
        bounds.append(f">= {ge:g}")
    if lt is not None:
        bounds.append(f"< {lt:g}")
    words = "a float" + (" " + " and ".join(bounds) if bounds else "")

    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid
        number = float(value)
        if not math.isfinite(number):
            raise _Invalid
        if (gt is not None and not number > gt) or (ge is not None and not number >= ge):
            raise _Invalid
        if lt is not None and not number < lt:
            raise _Invalid
        return number

    return Spec(parse, words)


def parse_str(*, pattern: str | None = None, words: str = "a string") -> Spec:
    """A non-empty string, optionally matching a regular expression."""

    def parse(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise _Invalid
        if pattern is not None and not re.fullmatch(pattern, value):
            raise _Invalid
        return value

    return Spec(parse, words)


def parse_choice(*choices: str) -> Spec:
    """One of the given strings."""

    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _Invalid
        return value

    return Spec(parse, "one of " + ", ".join(repr(c) for c in choices))


def parse_optional(spec: Spec) -> Spec:
    """``spec`` or ``None`` (``null`` in YAML; in TOML leave the key out)."""
    return Spec(lambda v: None if v is None else spec.parse(v), f"{spec.expected}, or null")


def parse_int_tuple(
    length: int | None,
    minimum: int,
    *,
    distinct: bool = False,
    increasing: bool = False,
    scalar_repeats: bool = False,
    words: str,
) -> Spec:
    """A list of ints (returned as a tuple); a scalar repeats ``length`` times if allowed."""

    def parse(value: Any) -> tuple[int, ...]:
        if scalar_repeats and _is_int(value) and length is not None:
            value = [value] * length
        if not isinstance(value, list | tuple) or not value:
            raise _Invalid
        if length is not None and len(value) != length:
            raise _Invalid
        if not all(_is_int(v) and v >= minimum for v in value):
            raise _Invalid
        if distinct and len(set(value)) != len(value):
            raise _Invalid
        if increasing and list(value) != sorted(value):
            raise _Invalid
        return tuple(int(v) for v in value)

    return Spec(parse, words)


def parse_float_pair(low: float, high: float, *, words: str) -> Spec:
    """Two floats ``(a, b)`` with ``low <= a < b <= high``."""

    def parse(value: Any) -> tuple[float, float]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise _Invalid
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
            raise _Invalid
        a, b = float(value[0]), float(value[1])
        if not low <= a < b <= high:
            raise _Invalid
        return (a, b)

    return Spec(parse, words)


def parse_scalar_table(words: str) -> Spec:
    """A table of names to strings, numbers or booleans (returned as a new dict)."""

    def parse(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _Invalid
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str | int | float | bool):
                raise _Invalid
        return dict(value)

    return Spec(parse, words)


def option(default: Any, spec: Spec | None, help: str) -> Any:
    """A dataclass field with its Spec (None for a nested section) and help line."""
    meta = {"spec": spec, "help": help}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=meta)
    if dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=type(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


class Section:
    """Base of the frozen configuration sections: ``__post_init__`` validates every field.

    As in zarr-python's metadata classes, constructing a section directly runs the same
    ``parse_*`` checks as loading it from a file; a nested section may be given as a mapping.
    Subclasses add cross-field checks in ``_check`` (raising ``ConfigError`` with keys relative
    to the section).
    """

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            spec = f.metadata.get("spec")
            if spec is None:  # nested section
                cls = f.default_factory  # type: ignore[misc]
                if not isinstance(value, cls):
                    value = parse_section(cls, value, f.name)
            else:
                value = spec(value, f.name)
            object.__setattr__(self, f.name, value)
        self._check()

    def _check(self) -> None:
        """Cross-field checks of the section (none by default)."""


def parse_section(cls: type[T], data: Any, key: str = "") -> T:
    """Build the frozen section ``cls`` from a mapping, validating every key.

    Missing keys take their defaults; nested sections recurse; unknown keys and wrong values
    raise :class:`ConfigError` naming the dotted key (with a "did you mean" hint).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(key, f"expected a table of settings, got {data!r}")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for name in data:
        if name not in names:
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                _join(key, str(name)), f"unknown key{hint} (known keys: {', '.join(names)})"
            )
    try:
        return cls(**data)
    except ConfigError as exc:
        raise ConfigError(_join(key, exc.key), exc.message) from None


def section_to_dict(section: Any) -> dict[str, Any]:
    """A section as plain JSON-safe data (tuples become lists, sections dicts, None kept)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = section_to_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = list(value)
        elif isinstance(value, dict):
            out[f.name] = dict(value)
        else:
            out[f.name] = value
    return out


def toml_value(value: Any) -> str:
    """A TOML literal for a bool, int, float, string, list or flat table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + (f" {items} " if items else "") + "}"
    raise TypeError(f"no TOML form for {value!r}")


def section_to_toml(section: Any, key: str, *, comments: bool) -> list[str]:
    """TOML lines of one section (``[key]``), nested sections after its own values."""
    lines = [f"[{key}]"]
    doc = (type(section).__doc__ or "").strip().splitlines()
    if comments and doc:
        lines.insert(0, f"# {doc[0]}")
    nested = []
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            nested.append((f.name, value))
            continue
        if comments:
            spec = f.metadata.get("spec")
            expected = f" ({spec.expected})" if spec is not None else ""
            lines.append(f"# {f.metadata.get('help', '')}{expected}")
        if value is None:
            if comments:
                lines.append(f"# {f.name} = ...   (unset)")
            continue
        lines.append(f"{f.name} = {toml_value(section_to_dict(section)[f.name])}")
    for name, value in nested:
        lines.append("")
        lines.extend(section_to_toml(value, _join(key, name), comments=comments))
    return lines
