"""The one configuration system: TOML text that round-trips any string, YAML duplicated keys,
the JSON schema, and the simulator's parameters validated by the same models."""

from __future__ import annotations

import dataclasses
import json
import pickle
import tomllib

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sofi_dask import ConfigError as PublicConfigError
from sofi_dask._config_toml import toml_key, toml_value
from sofi_dask.errors import ConfigError
from sofi_dask.pipeline import ConfigError as PipelineConfigError
from sofi_dask.pipeline._config import (
    PipelineConfig,
    config_to_toml,
    load_config,
    option_table,
    pipeline_schema,
    save_config,
)
from sofi_dask.simulate import SimulationConfig

# every character a Python str may hold and UTF-8 can encode: controls (U+0000-U+001F, U+007F)
# included; lone surrogates cannot be written to a file at all
TEXT = st.text(st.characters(codec="utf-8"), min_size=1)


def test_one_config_error_type():
    assert PublicConfigError is ConfigError and PipelineConfigError is ConfigError
    with pytest.raises(ConfigError):
        PipelineConfig.from_dict({"ldrc": {"mask": 3}})
    with pytest.raises(ConfigError):
        SimulationConfig(n_frames=0)
    err = ConfigError("deconvolution.lam", "bad", source="run.toml")
    again = pickle.loads(pickle.dumps(err))
    assert (again.key, again.message, again.source, str(again)) == (
        "deconvolution.lam",
        "bad",
        "run.toml",
        "run.toml: deconvolution.lam: bad",
    )


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_toml_strings_round_trip(text):
    assert tomllib.loads(f"v = {toml_value(text)}")["v"] == text
    assert tomllib.loads(f"{toml_key(text)} = 1") == {text: 1}


@pytest.mark.parametrize("text", ["\x7f", "a\x00b", "tab\there", 'q"\\', "\x1b[0m", "\u2028é"])
def test_toml_control_characters_round_trip(text):
    assert tomllib.loads(f"v = {toml_value(text)}")["v"] == text


@settings(max_examples=60, deadline=None)
@given(path=TEXT, option_key=TEXT, option_value=TEXT)
def test_config_with_any_strings_round_trips_through_toml(path, option_key, option_value):
    config = PipelineConfig.from_dict(
        {
            "input": {"path": path},
            "compute": {"scheduler": "slurm", "cluster_options": {option_key: option_value}},
        }
    )
    assert PipelineConfig.from_dict(tomllib.loads(config_to_toml(config))) == config
    assert PipelineConfig.from_dict(tomllib.loads(config_to_toml(config, comments=True))) == config


def test_del_character_in_a_saved_file(tmp_path):
    # the hand-written quoting of the first version wrote U+007F raw, which tomllib refuses
    config = PipelineConfig.from_dict({"input": {"path": "/data/a\x7fb.tif"}})
    assert load_config(save_config(config, tmp_path / "run.toml")) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "deconvolution:\n  lam: 2\n  lam: 3\n",
            "deconvolution.lam: duplicated key (lines 2 and 3)",
        ),
        (
            "ldrc:\n  enabled: false\nldrc:\n  mask: average\n",
            "ldrc: duplicated key (lines 1 and 3)",
        ),
        (
            "compute:\n  cluster_options: {queue: a, queue: b}\n",
            "compute.cluster_options.queue: duplicated key (lines 2 and 2)",
        ),
    ],
)
def test_yaml_duplicated_keys_are_refused(tmp_path, text, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_toml_duplicated_keys_are_refused(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[deconvolution]\nlam = 2\nlam = 3\n")
    with pytest.raises(ConfigError, match=r"run\.toml: cannot parse TOML"):
        load_config(path)


def _properties(schema):
    """(dotted key, property) of every setting in the schema, sections followed by $ref."""
    defs = schema["$defs"]

    def walk(node, prefix):
        for name, prop in node["properties"].items():
            key = f"{prefix}.{name}" if prefix else name
            yield key, prop
            if "$ref" in prop:
                yield from walk(defs[prop["$ref"].rsplit("/", 1)[1]], key)

    return list(walk(schema, ""))


def test_schema_documents_every_key():
    schema = pipeline_schema()
    rows = _properties(schema)
    described = {key for key, prop in rows if prop.get("description")}
    assert described == {key for key, _ in rows}  # every key, sections too
    settings_ = {key: prop for key, prop in rows if "$ref" not in prop}
    assert set(settings_) == {o.key for o in option_table()}
    for o in option_table():
        assert settings_[o.key]["description"] == o.help
        assert settings_[o.key]["expected"] == o.expected
    assert settings_["deconvolution.lam"]["exclusiveMinimum"] == 1
    assert settings_["compute.n_workers"]["anyOf"][0]["minimum"] == 1
    assert schema["additionalProperties"] is False


def test_schema_agrees_with_the_models():
    validator = jsonschema.Draft202012Validator(pipeline_schema())
    custom = PipelineConfig.from_dict(
        {"statistic": {"orders": [2, 4], "frames": [0, 10]}, "video": {"enabled": True}}
    )
    for config in (PipelineConfig(), custom):
        validator.validate(config.to_dict())
    for bad in (
        {"deconvolution": {"lamda": 2}},
        {"deconvolution": {"lam": 1}},
        {"bleaching": {"smooth_kernel": 250}},
        {"outputs": {"video_format": "avi"}},
        {"outputs": {"signed_stretch": "log"}},
        {"compute": {"n_workers": 0}},
    ):
        assert not validator.is_valid(bad), bad
        with pytest.raises(ConfigError):
            PipelineConfig.from_dict(bad)


def test_sections_are_frozen_and_hashable_where_possible():
    config = PipelineConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.ldrc = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        del config.deconvolution.lam
    assert hash(config.deconvolution) == hash(PipelineConfig().deconvolution)


def test_simulation_config_uses_the_same_system():
    with pytest.raises(ConfigError, match="^n_framez: unknown key; did you mean 'n_frames'"):
        SimulationConfig.from_dict({"n_framez": 10})
    with pytest.raises(ConfigError, match="^n_frames: expected an int >= 1, got 2.5"):
        SimulationConfig(n_frames=2.5)
    with pytest.raises(ConfigError, match="^poisson_noise: expected true or false, got 1"):
        SimulationConfig(poisson_noise=1)
    with pytest.raises(ConfigError, match=r"^frame_shape: expected \[height, width\] ints >= 8"):
        SimulationConfig(frame_shape=(4, 64))
    with pytest.raises(ConfigError, match=r"^seed: expected an int in \[0, 2\*\*63\)"):
        SimulationConfig(seed=2**63)
    cfg = SimulationConfig(n_frames=np.int64(50), frame_shape=np.array([16, 24]))
    assert cfg.shape == (50, 16, 24) and type(cfg.n_frames) is int
    assert cfg.replace(seed=3).seed == 3 and cfg.replace(seed=3) != cfg
    with pytest.raises(ConfigError, match="^gain: expected a float > 0, got 0"):
        cfg.replace(gain=0)
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()


def test_scheduler_names_are_defined_once():
    from sofi_dask import _schedulers
    from sofi_dask.cluster import LOCAL_SCHEDULERS, SCHEDULERS
    from sofi_dask.cluster._jobqueue import JOBQUEUE_KINDS

    assert SCHEDULERS is _schedulers.SCHEDULERS and LOCAL_SCHEDULERS is _schedulers.LOCAL_SCHEDULERS
    assert tuple(JOBQUEUE_KINDS) == _schedulers.JOBQUEUE_SCHEDULERS
    compute = PipelineConfig.from_dict({"compute": {"scheduler": "Sync"}}).compute
    assert compute.scheduler == "synchronous"
    for name in SCHEDULERS:
        assert PipelineConfig.from_dict({"compute": {"scheduler": name}}).compute.scheduler == name
    with pytest.raises(ConfigError) as info:
        PipelineConfig.from_dict({"compute": {"scheduler": "tcp://host"}})  # no port
    assert str(info.value) == (
        f"compute.scheduler: expected {_schedulers.SCHEDULERS_WORDS}, got 'tcp://host'"
    )
