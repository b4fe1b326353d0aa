"""The run configuration of ``sofi-dask run``: files (TOML, YAML), overrides, template, schema.

The sections are the frozen pydantic models of :mod:`sofi_dask.pipeline._config_models`,
validated by the one configuration system of :mod:`sofi_dask._config_model`; unknown keys and
wrong values raise :class:`~sofi_dask.errors.ConfigError` (a ``ValueError``) naming the dotted
key::

    deconvolution.lam: expected a float > 1, got 'abc'

``to_dict()`` gives JSON-safe data for the output's attributes; ``from_dict`` reads it back.
The same dotted keys serve the command line (:func:`apply_overrides`, :func:`parse_override`).

Examples
--------
>>> config = apply_overrides(PipelineConfig(), {"deconvolution.lam": 2.0, "video.enabled": True})
>>> config.deconvolution.lam, config.video.window
(2.0, 100)
>>> PipelineConfig.from_dict(config.to_dict()) == config
True
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from sofi_dask._config_model import (
    config_schema,
    expected_words,
    is_path,
    section_fields,
)
from sofi_dask._config_toml import model_to_toml
from sofi_dask.errors import ConfigError
from sofi_dask.io._atomic import PathLike, atomic_output
from sofi_dask.pipeline._config_models import (
    STAGES,
    BleachingConfig,
    ComputeConfig,
    DeconvolutionConfig,
    FinterpConfig,
    InputConfig,
    LdrcConfig,
    NoiseFilterConfig,
    OutputsConfig,
    PipelineConfig,
    PsfConfig,
    StatisticConfig,
    VideoConfig,
)
from sofi_dask.pipeline._config_yaml import load_yaml

__all__ = [
    "PATH_KEYS",
    "STAGES",
    "BleachingConfig",
    "ComputeConfig",
    "ConfigError",
    "ConfigOption",
    "DeconvolutionConfig",
    "FinterpConfig",
    "InputConfig",
    "LdrcConfig",
    "NoiseFilterConfig",
    "OutputsConfig",
    "PipelineConfig",
    "PsfConfig",
    "StatisticConfig",
    "VideoConfig",
    "apply_overrides",
    "config_to_toml",
    "config_to_yaml",
    "default_config_toml",
    "load_config",
    "option_table",
    "parse_config",
    "parse_override",
    "pipeline_schema",
    "save_config",
]

#: Keys holding file paths: relative values in a config file are relative to that file.
PATH_KEYS: tuple[str, ...] = tuple(k for k, f in section_fields(PipelineConfig) if is_path(f))


def parse_config(data: Mapping[str, Any] | PipelineConfig | None) -> PipelineConfig:
    """A ``PipelineConfig`` from a config, a nested dict, or None (the defaults).

    Examples
    --------
    >>> parse_config({"ldrc": {"window_size": 9}}).ldrc.window_size
    (9, 9)
    """
    if isinstance(data, PipelineConfig):
        return data
    return PipelineConfig.from_dict(data)


def _get(data: dict[str, Any], dotted: str) -> tuple[dict[str, Any] | None, str]:
    *parents, last = dotted.split(".")
    node: Any = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) else None), last


def load_config(path: PathLike) -> PipelineConfig:
    """Load a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file, safely.

    Missing keys take their defaults. Relative paths in the file (``input.path``,
    ``outputs.path``, ``deconvolution.psf.path``, ``compute.performance_report``) are taken
    relative to the file's folder. A key given twice is an error (TOML and YAML alike).

    Parameters
    ----------
    path : str or PathLike
        The config file.

    Returns
    -------
    PipelineConfig

    Raises
    ------
    ConfigError
        Not UTF-8 text, syntax error, duplicated or unknown key, or wrong value; the message
        starts with the file name and the dotted key.
    FileNotFoundError
        No such file.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = p.write_text("[deconvolution]\\nlam = 1.8\\n")
    >>> load_config(p).deconvolution.lam
    1.8
    """
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "",
            f"expected a UTF-8 text file (TOML or YAML), got byte {exc.object[exc.start]:#04x} "
            f"at offset {exc.start}",
            source=source,
        ) from None
    suffix = file.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = load_yaml(text)
        else:
            raise ConfigError("", f"expected a .toml, .yaml or .yml file, got {file.name!r}")
        if data is not None and not isinstance(data, dict):
            raise ConfigError("", f"expected a table of sections, got {data!r}")
        data = copy.deepcopy(data or {})
        for key in PATH_KEYS:
            node, last = _get(data, key)
            if node is not None and isinstance(node.get(last), str):
                value = os.path.expanduser(node[last])
                node[last] = value if os.path.isabs(value) else str(file.parent / value)
        return PipelineConfig.from_dict(data)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"cannot parse TOML: {exc}", source=source) from None
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.message, source=source) from None


def _table_keys() -> set[str]:
    """Dotted keys of free-form tables (``compute.cluster_options``)."""
    return {o.key for o in option_table() if isinstance(o.default, dict)}


def apply_overrides(
    config: PipelineConfig, overrides: Mapping[str, Any] | Iterable[str] | None
) -> PipelineConfig:
    """A new config with dotted keys replaced (command-line options), re-validated.

    Parameters
    ----------
    config : PipelineConfig
        The base (defaults or a loaded file).
    overrides : mapping of str to value, or iterable of ``"KEY=VALUE"`` strings
        ``{"deconvolution.lam": 2.0, "statistic.orders": [2, 4]}``; a value None resets an
        optional setting; a section key takes a whole table; ``compute.cluster_options.queue``
        sets one entry of a free-form table. Strings such as ``"deconvolution.lam=2"`` (the
        command line's ``--set``) are read by :func:`parse_override`; later ones win.

    Returns
    -------
    PipelineConfig

    Raises
    ------
    ConfigError
        Unknown key or wrong value, naming the dotted key.

    Examples
    --------
    >>> apply_overrides(PipelineConfig(), {"ldrc.window_size": 15}).ldrc.window_size
    (15, 15)
    >>> apply_overrides(PipelineConfig(), ["deconvolution.lam=2", "video.enabled=true"]).video
    VideoConfig(enabled=True, window=100, step=None)
    """
    if overrides is None:
        pairs: list[tuple[Any, Any]] = []
    elif isinstance(overrides, Mapping):
        pairs = list(overrides.items())
    elif isinstance(overrides, str):
        pairs = [parse_override(overrides)]
    else:
        pairs = [parse_override(text) for text in overrides]
    data = config.to_dict()
    given: list[str] = []  # the keys set, kept apart so the result knows them (moot_settings)
    for dotted, value in pairs:
        if not isinstance(dotted, str) or not re.fullmatch(r"\w+(\.\w+)*", dotted):
            raise ConfigError(str(dotted), "expected a dotted key such as 'deconvolution.lam'")
        node, last = _get(data, dotted)
        parent = dotted.rpartition(".")[0]
        if node is not None and last not in node and parent in _table_keys():
            node[last] = copy.deepcopy(value)  # an entry of a free-form table
            given.append(parent)
            continue
        if node is None or last not in node:
            # let the models name the first unknown part with a suggestion
            trial = copy.deepcopy(data)
            parts = dotted.split(".")
            target: Any = trial
            for part in parts[:-1]:
                target = target.setdefault(part, {}) if isinstance(target, dict) else None
            if isinstance(target, dict):
                target[parts[-1]] = value
                PipelineConfig.from_dict(trial)
            raise ConfigError(dotted, "unknown key (not a section or setting)")
        node[last] = copy.deepcopy(value)
        given.append(dotted)
    # the base's explicit settings plus the overridden keys (from their final values): the
    # same config, whose fields_set still tells what was set (defaults nobody set stay unset)
    explicit = config.model_dump(mode="json", exclude_unset=True)
    for dotted in given:
        node, last = _get(data, dotted)
        target = explicit
        for part in dotted.split(".")[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[last] = copy.deepcopy(node[last])  # type: ignore[index]
    return PipelineConfig.from_dict(explicit)


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``KEY=VALUE`` from the command line; the value is read as a TOML value.

    ``2.0`` -> float, ``true`` -> bool, ``[2, 4]`` -> list, ``"x"`` -> str, ``none``/``null``
    -> None; anything else is kept as a bare string (``threads``, ``results/run1``).

    Examples
    --------
    >>> parse_override("deconvolution.lam=2")
    ('deconvolution.lam', 2)
    >>> parse_override("compute.scheduler=tcp://127.0.0.1:8786")
    ('compute.scheduler', 'tcp://127.0.0.1:8786')
    """
    if not isinstance(text, str):
        raise ConfigError(str(text), f"expected a KEY=VALUE string, got {text!r}")
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ConfigError(
            key or text, f"expected KEY=VALUE such as deconvolution.lam=2, got {text!r}"
        )
    if raw.lower() in ("none", "null"):
        return key, None
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return key, raw


def config_to_toml(config: PipelineConfig, *, comments: bool = False) -> str:
    """The config as TOML text (unset optional keys left out; commented out with comments).

    Examples
    --------
    >>> PipelineConfig.from_dict(tomllib.loads(config_to_toml(PipelineConfig()))).ldrc.mask
    'order2'
    """
    return model_to_toml(config, comments=comments)


def config_to_yaml(config: PipelineConfig) -> str:
    """The config as YAML text (``yaml.safe_dump`` of :meth:`PipelineConfig.to_dict`)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)


def default_config_toml() -> str:
    """A commented TOML template with every key at its default (``sofi-dask config``).

    Examples
    --------
    >>> PipelineConfig.from_dict(tomllib.loads(default_config_toml())) == PipelineConfig()
    True
    """
    head = (
        "# sofi-dask run configuration (TOML). Every key is optional; values shown are the\n"
        "# defaults. Each key can also be set on the command line as section.key=value.\n"
        "# Relative paths are relative to this file.\n\n"
    )
    return model_to_toml(PipelineConfig(), comments=True, header=head)


def pipeline_schema() -> dict[str, Any]:
    """The JSON schema of the run configuration (``sofi-dask config --schema``).

    Examples
    --------
    >>> pipeline_schema()["properties"]["deconvolution"]["description"]
    'shrinking-kernel deconvolution'
    """
    schema = config_schema(PipelineConfig)
    schema["title"] = "sofi-dask run configuration"
    return schema


def save_config(config: PipelineConfig, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write the config as TOML or YAML (by suffix), atomically; :func:`load_config` reads it."""
    suffix = Path(path).suffix.lower()
    if suffix == ".toml":
        text = config_to_toml(config)
    elif suffix in (".yaml", ".yml"):
        text = config_to_yaml(config)
    else:
        raise ValueError(f"path: expected a .toml, .yaml or .yml file, got {str(path)!r}")
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(os.path.abspath(path))


@dataclasses.dataclass(frozen=True)
class ConfigOption:
    """One setting, for building command-line options and documentation."""

    key: str
    default: Any
    expected: str
    help: str


def option_table() -> list[ConfigOption]:
    """Every setting as a dotted key with its default, expected value and help line.

    Examples
    --------
    >>> [o for o in option_table() if o.key == "deconvolution.lam"][0].expected
    'a float > 1'
    """
    flat = _flatten(PipelineConfig().to_dict())
    return [
        ConfigOption(key, flat[key], expected_words(field), field.description or "")
        for key, field in section_fields(PipelineConfig)
    ]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        out[dotted] = value
        if isinstance(value, dict):
            out.update(_flatten(value, dotted))
    return out
