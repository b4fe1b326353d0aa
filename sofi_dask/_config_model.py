"""The one validation system of every configuration: frozen pydantic models, errors naming the key.

The pipeline's run configuration (:mod:`sofi_dask.pipeline`) and the simulator's parameters
(:class:`sofi_dask.SimulationConfig`) are :class:`ConfigModel` subclasses: frozen pydantic v2
models that forbid unknown keys. Their fields use the value types below (:data:`Int`,
:data:`Float`, :data:`Bool`, :data:`Text`, :data:`FilePath`, ...), which refuse what a config
file should not mean silently (``1`` for ``true``, ``2.5`` for an int, ``"2"`` for a number) and
say in words what they expect. Every pydantic error becomes one
:class:`~sofi_dask.errors.ConfigError` whose key is the dotted path of the setting::

    deconvolution.lam: expected a float > 1, got 'abc'
    deconvolution.lamda: unknown key; did you mean 'lam'? (known keys: ...)

Each field is declared with :func:`setting` (default, help line, bounds); the help line is the
field's description in the JSON schema (:func:`config_schema`) and the comment of the TOML
template (:mod:`sofi_dask.pipeline._config_toml`).

Examples
--------
>>> class Window(ConfigModel):
...     '''A sliding window.'''
...     size: Int = setting(10, "frames per window", ge=2)
...     step: Int | None = setting(None, "frames between windows", ge=1)
>>> Window(size=4).size, Window.from_dict({"step": 2}).to_dict()
(4, {'size': 10, 'step': 2})
>>> Window(size=1)
Traceback (most recent call last):
...
sofi_dask.errors.ConfigError: size: expected an int >= 2, got 1
>>> Window.from_dict({"stpe": 2})
Traceback (most recent call last):
...
sofi_dask.errors.ConfigError: stpe: unknown key; did you mean 'step'? (known keys: size, step)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, Self

import annotated_types
import pydantic
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from sofi_dask.errors import ConfigError

__all__ = [
    "Bool",
    "ConfigModel",
    "Expected",
    "FilePath",
    "Float",
    "Int",
    "OddInt",
    "Text",
    "check",
    "config_schema",
    "expected_words",
    "is_path",
    "is_section",
    "section_fields",
    "setting",
]


@dataclasses.dataclass(frozen=True)
class Expected:
    """Annotation marker: what a value type expects, in words (``"an int"``), and JSON-schema
    keywords that say what pydantic's schema of the type cannot (``{"not": {"multipleOf": 2}}``).
    """

    words: str
    schema: tuple[tuple[str, Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class IsPath:
    """Annotation marker of a file path (relative ones in a config file are taken from it)."""


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError("not an integer")
    return int(value)


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError("not a number")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError("not finite")
    return out


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("not a bool")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("not a non-empty string")
    return value


def _odd(value: int) -> int:
    if value % 2 == 0:
        raise ValueError("not odd")
    return value


#: An integer (numpy integers accepted; no bool, no float, no string).
Int = Annotated[int, BeforeValidator(_integer), Expected("an int")]
#: An odd integer.
OddInt = Annotated[
    int,
    BeforeValidator(_integer),
    AfterValidator(_odd),
    Expected("an odd int", schema=(("not", {"multipleOf": 2}),)),
]
#: A finite real number (ints accepted and converted; no bool, no string).
Float = Annotated[float, BeforeValidator(_real), Expected("a float")]
#: ``true`` or ``false`` (no 0/1, no "yes").
Bool = Annotated[bool, BeforeValidator(_boolean), Expected("true or false")]
#: A non-empty string.
Text = Annotated[str, BeforeValidator(_text), Expected("a string")]
#: A file path (a non-empty string; relative in a config file: relative to that file).
FilePath = Annotated[str, BeforeValidator(_text), Expected("a file path"), IsPath()]


def setting(default: Any, help: str, *, expected: str | None = None, **bounds: Any) -> Any:
    """A field: its default, help line (the schema's description), bounds and words.

    Parameters
    ----------
    default : object
        The default; a dict or a section instance is copied per instance.
    help : str
        One line: the field's description in the JSON schema and its TOML comment.
    expected : str, optional
        What the value must be, in words, when the type and bounds cannot say it.
    **bounds
        pydantic ``Field`` constraints (``gt``, ``ge``, ``lt``, ``le``, ``min_length``, ...).

    Examples
    --------
    >>> setting(1.5, "lambda", gt=1).description
    'lambda'
    """
    extra = {"expected": expected} if expected else None
    if isinstance(default, dict):
        return Field(
            default_factory=lambda: dict(default),
            description=help,
            json_schema_extra=extra,
            **bounds,
        )
    if isinstance(default, ConfigModel):
        return Field(default_factory=type(default), description=help, json_schema_extra=extra)
    return Field(default, description=help, json_schema_extra=extra, **bounds)


def check(key: str, message: str) -> PydanticCustomError:
    """The error a cross-field check raises: ``key`` relative to the model, ``message`` as is.

    Examples
    --------
    >>> str(check("path", "expected a PSF file, got None")).startswith("expected a PSF")
    True
    """
    return PydanticCustomError("sofi_config", "{message}", {"key": key, "message": message})


def _unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """(inner type, optional?, Annotated metadata) of a field annotation."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else annotation
    metadata: list[Any] = []
    if typing.get_origin(annotation) is Annotated:
        metadata = list(annotation.__metadata__)
        annotation = annotation.__origin__
    return annotation, optional, metadata


def is_path(field: FieldInfo) -> bool:
    """Whether ``field`` holds a file path (:data:`FilePath`)."""
    _, _, metadata = _unwrap(field.annotation)
    return any(isinstance(m, IsPath) for m in [*metadata, *field.metadata])


def is_section(field: FieldInfo) -> type[ConfigModel] | None:
    """The section class of a nested-section field, else None."""
    inner = _unwrap(field.annotation)[0]
    return inner if isinstance(inner, type) and issubclass(inner, ConfigModel) else None


def _bounds_words(metadata: list[Any]) -> str:
    words = []
    for item in metadata:
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(item, attr, None)
            if isinstance(item, annotated_types.BaseMetadata) and value is not None:
                words.append(f"{sign} {value:g}")
    return " and ".join(words)


def _marker(field: FieldInfo) -> Expected | None:
    _, _, metadata = _unwrap(field.annotation)
    return next((m for m in [*metadata, *field.metadata] if isinstance(m, Expected)), None)


def expected_words(field: FieldInfo) -> str:
    """What ``field`` expects, in words: its ``expected`` text, else from type and bounds.

    Examples
    --------
    >>> from sofi_dask.pipeline import PipelineConfig
    >>> expected_words(PipelineConfig.model_fields["bleaching"].annotation.model_fields["fbc"])
    'a float > 0 and < 1'
    """
    extra = field.json_schema_extra
    if isinstance(extra, dict) and extra.get("expected"):
        return str(extra["expected"])
    inner, optional, metadata = _unwrap(field.annotation)
    metadata = [*metadata, *field.metadata]
    if typing.get_origin(inner) is Literal:
        words = "one of " + ", ".join(repr(c) for c in typing.get_args(inner))
    else:
        marker = _marker(field)
        words = marker.words if marker else getattr(inner, "__name__", str(inner))
        bounds = _bounds_words(metadata)
        words = f"{words} {bounds}" if bounds else words
    return f"{words}, or null" if optional else words


def section_fields(model: type[ConfigModel]) -> Iterator[tuple[str, FieldInfo]]:
    """``(dotted key, field)`` of every setting of ``model``, nested sections flattened.

    Examples
    --------
    >>> from sofi_dask.pipeline import PipelineConfig
    >>> next(section_fields(PipelineConfig))[0]
    'input.path'
    """
    for name, field in model.model_fields.items():
        sub = is_section(field)
        if sub is None:
            yield name, field
        else:
            for key, leaf in section_fields(sub):
                yield f"{name}.{key}", leaf


def _raw(data: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return _MISSING
        data = data[part]
    return data


_MISSING = object()


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _to_config_error(exc: pydantic.ValidationError, model: type[ConfigModel], data: Any) -> Any:
    """The first error of ``exc`` (unknown keys first) as a ConfigError naming the dotted key."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    cls: type[ConfigModel] | None = model
    path: list[str] = []
    leaf: FieldInfo | None = None
    for part in error["loc"]:
        if cls is None or not isinstance(part, str):
            break
        fields = cls.model_fields
        if part not in fields:
            names = list(fields)
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            key = _join(*path, part)
            return ConfigError(key, f"unknown key{hint} (known keys: {', '.join(names)})")
        path.append(part)
        cls = is_section(fields[part])
        if cls is None:
            leaf = fields[part]
    key = _join(*path)
    ctx = error.get("ctx") or {}
    inner = ctx.get("error")
    if error["type"] == "sofi_config":
        return ConfigError(_join(key, ctx["key"]), ctx["message"])
    if isinstance(inner, ConfigError):  # a nested section's own __init__ converted it
        return ConfigError(_join(key, inner.key), inner.message)
    value = _raw(data, path)
    if value is _MISSING:
        value = error.get("input")
    if leaf is None:
        if isinstance(value, ConfigModel):  # a section of the wrong class
            value = type(value).__name__
        return ConfigError(key, f"expected a table of settings, got {value!r}")
    return ConfigError(key, f"expected {expected_words(leaf)}, got {value!r}")


class ConfigModel(pydantic.BaseModel):
    """Base of every configuration section: frozen, no unknown keys, errors naming the key.

    Constructing a section directly (``DeconvolutionConfig(lam=2.0)``) runs the same checks as
    :meth:`from_dict`; a nested section may be given as a mapping.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise _to_config_error(exc, type(self), data) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(
            f"cannot assign to {name!r}: {type(self).__name__} is frozen (use .replace())"
        )

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(
            f"cannot delete {name!r}: {type(self).__name__} is frozen"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Self:
        """Validate a nested mapping (missing keys take defaults); inverse of :meth:`to_dict`."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError("", f"expected a table of settings, got {data!r}")
        bad = [k for k in data if not isinstance(k, str)]
        if bad:
            raise ConfigError(str(bad[0]), "expected a string key")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe nested dict of every setting (lists for tuples, None kept)."""
        return self.model_dump(mode="json")

    def replace(self, **changes: Any) -> Self:
        """A copy with some settings changed, validated again."""
        return type(self)(**{**dict(self), **changes})


_BOUND_KEYS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _tidy(node: Any) -> Any:
    """pydantic writes bounds of optional fields as ``ge``/``gt``: use JSON-schema keywords."""
    if isinstance(node, dict):
        return {_BOUND_KEYS.get(k, k): _tidy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    return node


def config_schema(model: type[ConfigModel]) -> dict[str, Any]:
    """The JSON schema of ``model``: every key with its description, default and ``expected``.

    Examples
    --------
    >>> from sofi_dask.pipeline import PipelineConfig
    >>> schema = config_schema(PipelineConfig)
    >>> schema["$defs"]["DeconvolutionConfig"]["properties"]["lam"]["expected"]
    'a float > 1'
    """
    schema = _tidy(model.model_json_schema())
    defs = schema.get("$defs", {})

    def annotate(cls: type[ConfigModel], node: dict[str, Any]) -> None:
        for name, field in cls.model_fields.items():
            prop = node["properties"][name]
            sub = is_section(field)
            if sub is None:
                prop["expected"] = expected_words(field)
                marker = _marker(field)
                if marker is not None and marker.schema:
                    target = prop["anyOf"][0] if "anyOf" in prop else prop
                    target.update(dict(marker.schema))
            else:
                annotate(sub, defs[sub.__name__])

    annotate(model, schema)
    return schema
