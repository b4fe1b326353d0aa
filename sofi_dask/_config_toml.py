"""TOML text of a configuration model, with comments from the same field definitions.

Strings are written as TOML basic strings with every character TOML forbids raw escaped
(``"``, ``\\``, the controls U+0000-U+001F and U+007F), so that any value reads back through
:mod:`tomllib` unchanged.

Examples
--------
>>> toml_value("tab\\there\\x7f")
'"tab\\\\there\\\\u007F"'
>>> import tomllib
>>> tomllib.loads("v = " + toml_value("a\\x7f\\x00\\"b"))["v"] == "a\\x7f\\x00\\"b"
True
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Mapping
from typing import Any

from sofi_dask._config_model import ConfigModel, expected_words, is_section

__all__ = ["model_to_toml", "toml_key", "toml_value"]

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
_ESCAPES["\r"] = "\\r"
_WIDTH = 99


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"expected text TOML can hold, got a lone surrogate in {text!r}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    """A TOML key: bare when it can be, else a quoted string.

    Examples
    --------
    >>> toml_key("queue"), toml_key("job extra")
    ('queue', '"job extra"')
    """
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def toml_value(value: Any) -> str:
    """A TOML literal for a bool, int, float, string, list or flat table.

    Examples
    --------
    >>> toml_value([1, 2.5, True]), toml_value({"queue": "short"})
    ('[1, 2.5, true]', '{ queue = "short" }')
    """
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
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + (f" {items} " if items else "") + "}"
    raise TypeError(f"no TOML form for {value!r}")


def _comment(text: str) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, width=_WIDTH - 2)]


def _help(text: str, expected: str) -> list[str]:
    """``# help (expected)`` on one line when it fits, else the help wrapped, then ``(expected)``.

    The expected words stay on one line whatever their length (they are the errors' words).
    """
    line = f"# {text} ({expected})"
    return [line] if len(line) <= _WIDTH else [*_comment(text), f"# ({expected})"]


def _lines(section: ConfigModel, key: str, comments: bool) -> list[str]:
    lines: list[str] = []
    doc = (type(section).__doc__ or "").strip().splitlines()
    if key:
        if comments and doc:
            lines.extend(_comment(doc[0]))
        lines.append(f"[{key}]")
    data = section.to_dict()
    nested = []
    for name, field in type(section).model_fields.items():
        value = getattr(section, name)
        if is_section(field) is not None:
            nested.append((name, value))
            continue
        if comments:
            lines.extend(_help(field.description or "", expected_words(field)))
        if value is None:
            if comments:
                lines.append(f"# {name} = ...   (unset)")
            continue
        lines.append(f"{toml_key(name)} = {toml_value(data[name])}")
    for name, value in nested:
        if lines:
            lines.append("")
        lines.extend(_lines(value, f"{key}.{name}" if key else name, comments))
    return lines


def model_to_toml(model: ConfigModel, *, comments: bool = False, header: str = "") -> str:
    """``model`` as TOML text: its settings, then one table per nested section.

    Unset (None) settings are left out, or shown commented out when ``comments`` is true;
    comments give each section's first docstring line and each setting's help and expected
    value, from the field definitions.

    Examples
    --------
    >>> from sofi_dask.pipeline import PipelineConfig
    >>> import tomllib
    >>> text = model_to_toml(PipelineConfig(), comments=True)
    >>> PipelineConfig.from_dict(tomllib.loads(text)) == PipelineConfig()
    True
    """
    text = "\n".join(_lines(model, "", comments)) + "\n"
    return header + text
