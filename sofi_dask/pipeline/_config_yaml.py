"""Safe YAML reading of config files: YAML 1.2 floats, and a key given twice is an error.

PyYAML's ``SafeLoader`` keeps the last of two equal keys silently and reads ``1e-3`` as a
string (YAML 1.1). :func:`load_yaml` reads floats as YAML 1.2 does and refuses a duplicated key,
naming its dotted path and both lines.

Examples
--------
>>> load_yaml("bleaching:\\n  fbc: 4e-2\\n")
{'bleaching': {'fbc': 0.04}}
>>> load_yaml("deconvolution:\\n  lam: 2\\n  lam: 3\\n")
Traceback (most recent call last):
...
sofi_dask.errors.ConfigError: deconvolution.lam: duplicated key (lines 2 and 3)
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from sofi_dask.errors import ConfigError

__all__ = ["load_yaml"]


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads ``1e-3`` as a float (YAML 1.2), not a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?$|^[-+]?(?:[0-9][0-9_]*)"
        r"(?:[eE][-+]?[0-9]+)$|^\.[0-9_]+(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$"
        r"|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def _check_duplicates(node: yaml.Node, path: str) -> None:
    """Raise ConfigError for the first mapping key given twice under ``node``."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            dotted = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(dotted, f"duplicated key (lines {seen[key]} and {line})")
            seen[key] = line
            _check_duplicates(value_node, dotted)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, f"{path}[{i}]")


def load_yaml(text: str) -> Any:
    """The data of one YAML document, read safely (no Python objects), duplicates refused.

    Raises
    ------
    ConfigError
        Syntax error or unsafe tag (``cannot parse YAML: ...``), or a duplicated key.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_duplicates(node, "")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"cannot parse YAML: {exc}") from None
    finally:
        loader.dispose()
