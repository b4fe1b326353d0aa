"""sofi_dask.config: defaults, round trips (dict/JSON/TOML/YAML/pickle), errors naming the key,
command-line overrides, relative paths in config files."""

from __future__ import annotations

import dataclasses
import json
import pickle
import tomllib

import pytest
import yaml

from sofi_dask.pipeline._config import (
    STAGES,
    ConfigError,
    DeconvolutionConfig,
    PipelineConfig,
    PsfConfig,
    apply_overrides,
    config_to_toml,
    config_to_yaml,
    default_config_toml,
    load_config,
    option_table,
    parse_config,
    parse_override,
    save_config,
)


def _flatten(data, prefix=""):
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and key != "cluster_options":
            out.update(_flatten(value, dotted))
        else:
            out[dotted] = value
    return out


@pytest.fixture
def custom():
    return PipelineConfig.from_dict(
        {
            "input": {"path": "/data/movie.tif", "channel": 1},
            "bleaching": {"fbc": 0.1, "smooth_kernel": 101, "method": "correct"},
            "finterp": {"enabled": True, "factor": 3},
            "statistic": {"kind": "moments", "orders": [4, 2, 3], "frames": [10, 500]},
            "video": {"enabled": True, "window": 50, "step": 25},
            "noise_filter_1": {"enabled": True, "kernel_size": 11, "sigma": 1.5},
            "deconvolution": {"lam": 1.8, "iterations": 10, "psf": {"sigma_px": 3, "size": 31}},
            "ldrc": {"window_size": 15, "mask": "order2"},
            "outputs": {"cmap": "magma", "percentiles": [1, 99.5], "keep_stages": ["ldrc"]},
            "compute": {
                "scheduler": "tcp://127.0.0.1:8786",
                "memory_limit": "2GiB",
                "cluster_options": {"queue": "short", "cores": 4},
            },
        }
    )


def test_defaults_follow_pysofi():
    c = PipelineConfig()
    assert (c.bleaching.enabled, c.bleaching.fbc, c.bleaching.smooth_kernel) == (True, 0.04, 251)
    assert c.statistic.kind == "cumulants" and c.statistic.orders == (2, 3, 4)
    assert (c.noise_filter_1.kernel_size, c.noise_filter_1.sigma) == (21, 2.0)
    assert (c.deconvolution.psf.kind, c.deconvolution.psf.sigma_px) == ("gaussian", 2.0)
    assert c.deconvolution.psf.size == 51
    assert (c.deconvolution.lam, c.deconvolution.iterations) == (1.5, 20)
    assert c.deconvolution.memory_budget_mb == 512  # whole 2048 x 2048 images (~224 MiB)
    assert c.ldrc.window_size == (25, 25) and c.ldrc.mask == "order2"
    assert c.outputs.cmap == "pink" and c.outputs.keep_stages == STAGES
    assert c.enabled_stages() == ("average", "statistic", "deconvolution", "ldrc")
    assert c.final_stage == "ldrc"
    assert parse_config(None) == c and parse_config(c) is c


def test_values_are_normalised(custom):
    assert custom.statistic.orders == (2, 3, 4)  # sorted
    assert custom.ldrc.window_size == (15, 15)  # one int -> square window
    assert isinstance(custom.deconvolution.psf.sigma_px, float)  # int accepted as float
    assert custom.outputs.percentiles == (1.0, 99.5)
    assert custom.enabled_stages() == STAGES[:4] + ("ldrc",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        custom.deconvolution.lam = 3.0


def test_dict_json_pickle_round_trip(custom):
    data = custom.to_dict()
    again = PipelineConfig.from_dict(json.loads(json.dumps(data)))
    assert again == custom
    assert again.to_dict() == data
    assert data["statistic"]["orders"] == [2, 3, 4] and data["input"]["channel"] == 1
    assert pickle.loads(pickle.dumps(custom)) == custom
    # the flattened keys are exactly the option table's keys
    assert set(_flatten(data)) == {o.key for o in option_table()}


def test_toml_and_yaml_text_round_trip(custom, tmp_path):
    assert PipelineConfig.from_dict(tomllib.loads(config_to_toml(custom))) == custom
    assert PipelineConfig.from_dict(yaml.safe_load(config_to_yaml(custom))) == custom
    for name in ("run.toml", "run.yaml", "run.yml"):
        path = save_config(custom, tmp_path / name)
        assert load_config(path) == custom
        with pytest.raises(FileExistsError):
            save_config(PipelineConfig(), path)
        assert load_config(path) == custom


def test_default_template_is_valid_and_complete():
    text = default_config_toml()
    assert PipelineConfig.from_dict(tomllib.loads(text)) == PipelineConfig()
    for opt in option_table():
        assert opt.key.rpartition(".")[2] in text
        assert opt.expected in text
    assert "[deconvolution.psf]" in text and text.count("\n#") > 20


def test_load_toml_with_relative_paths(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "run.toml"
    path.write_text(
        '[input]\npath = "data/movie.tif"\n\n[deconvolution]\nlam = 2\n'
        '[deconvolution.psf]\nkind = "file"\npath = "/abs/psf.npy"\n'
        '[compute]\nperformance_report = "report.html"\n'
    )
    c = load_config(path)
    assert c.input.path == str(folder / "data" / "movie.tif")
    assert c.deconvolution.psf.path == "/abs/psf.npy"
    assert c.compute.performance_report == str(folder / "report.html")
    assert c.deconvolution.lam == 2.0 and c.deconvolution.iterations == 20  # defaults kept
    assert c.ldrc == PipelineConfig().ldrc


def test_load_yaml_reads_exponent_floats_and_null(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "bleaching:\n  fbc: 4e-2\nvideo:\n  enabled: true\n  step: null\n"
        "statistic:\n  orders: [2, 4]\n"
    )
    c = load_config(path)
    assert c.bleaching.fbc == 0.04 and c.video.step is None and c.statistic.orders == (2, 4)
    assert load_config(_write(tmp_path / "empty.yml", "")) == PipelineConfig()


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"deconvolution": {"lam": "abc"}}, "deconvolution.lam: expected a float > 1, got 'abc'"),
        ({"deconvolution": {"lam": 1.0}}, "deconvolution.lam: expected a float > 1, got 1.0"),
        ({"deconvolution": {"iterations": 2.5}}, "deconvolution.iterations: expected an int"),
        ({"deconvolution": {"iterations": True}}, "deconvolution.iterations: expected an int"),
        ({"deconvolution": {"memory_budget_mb": -1}}, "deconvolution.memory_budget_mb: expected"),
        ({"deconvolution": {"psf": {"size": 50}}}, "deconvolution.psf.size: expected an odd int"),
        ({"deconvolution": {"psf": {"kind": "file"}}}, "deconvolution.psf.path: expected a PSF"),
        ({"deconvolution": {"lamda": 2}}, "deconvolution.lamda: unknown key; did you mean 'lam'"),
        ({"deconvolution": {"psf": {"sigma": 2}}}, "deconvolution.psf.sigma: unknown key"),
        ({"deconvolution": [1, 2]}, "deconvolution: expected a table of settings"),
        ({"deconvolutoin": {}}, "deconvolutoin: unknown key; did you mean 'deconvolution'"),
        ({"bleaching": {"enabled": 1}}, "bleaching.enabled: expected true or false, got 1"),
        ({"bleaching": {"enabled": "yes"}}, "bleaching.enabled: expected true or false"),
        ({"bleaching": {"fbc": 1.0}}, "bleaching.fbc: expected a float > 0 and < 1, got 1.0"),
        ({"bleaching": {"smooth_kernel": 250}}, "bleaching.smooth_kernel: expected an odd int"),
        ({"bleaching": {"method": "fit"}}, "bleaching.method: expected one of 'blocks'"),
        ({"statistic": {"orders": [2, 9]}}, "statistic.orders: expected a list of distinct"),
        ({"statistic": {"orders": [2, 2]}}, "statistic.orders: expected a list of distinct"),
        ({"statistic": {"orders": []}}, "statistic.orders"),
        ({"statistic": {"kind": "moment"}}, "statistic.kind: expected one of"),
        ({"statistic": {"frames": [5, 5]}}, "statistic.frames: expected [start, end]"),
        ({"video": {"window": 1}}, "video.window: expected an int >= 2, got 1"),
        ({"finterp": {"factor": 1}}, "finterp.factor: expected an int >= 2"),
        ({"ldrc": {"window_size": [25, 1]}}, "ldrc.window_size: expected [rows, cols]"),
        ({"ldrc": {"mask": "median"}}, "ldrc.mask: expected 'average' or 'order<k>'"),
        (
            {"ldrc": {"mask": "order7"}},
            "ldrc.mask: expected 'average' or 'order<k>' with k <= the highest",
        ),
        (
            {"ldrc": {"mask": "order1"}, "statistic": {"kind": "moments"}},
            "ldrc.mask: expected 'average' or 'order<k>' with k >= 2 for statistic.kind = "
            "'moments'",
        ),
        ({"noise_filter_2": {"enabled": True}}, "noise_filter_2.enabled: expected false unless"),
        ({"noise_filter_1": {"sigma": 0}}, "noise_filter_1.sigma: expected a float > 0"),
        ({"outputs": {"cmap": "pinkish"}}, "outputs.cmap: expected a matplotlib colormap"),
        ({"outputs": {"keep_stages": ["final"]}}, "outputs.keep_stages: expected a list"),
        ({"outputs": {"percentiles": [99, 1]}}, "outputs.percentiles: expected [low, high]"),
        ({"outputs": {"video_format": "avi"}}, "outputs.video_format: expected one of"),
        ({"compute": {"scheduler": "gpu"}}, "compute.scheduler: expected one of 'threads'"),
        ({"compute": {"memory_limit": "lots"}}, "compute.memory_limit: expected a size"),
        ({"compute": {"n_workers": 0}}, "compute.n_workers: expected an int >= 1, or null"),
        ({"compute": {"cluster_options": {"a": [1]}}}, "compute.cluster_options: expected"),
        ({"input": {"channel": -1}}, "input.channel: expected an int >= 0"),
        ({"input": {"path": 3}}, "input.path: expected a file path"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        PipelineConfig.from_dict(data)
    assert str(info.value).startswith(message), str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(info.value.key + ":")


def test_direct_construction_is_validated():
    with pytest.raises(ConfigError, match="^lam: expected a float > 1, got 'abc'"):
        DeconvolutionConfig(lam="abc")
    with pytest.raises(ConfigError, match=r"^psf\.sigma_px"):
        DeconvolutionConfig(psf={"sigma_px": -1})
    assert DeconvolutionConfig(psf={"sigma_px": 3}).psf == PsfConfig(sigma_px=3.0)


def test_load_errors_name_file_and_key(tmp_path):
    bad_value = _write(tmp_path / "a.toml", "[deconvolution]\nlam = 'abc'\n")
    with pytest.raises(ConfigError, match=r"a\.toml: deconvolution\.lam: expected a float > 1"):
        load_config(bad_value)
    with pytest.raises(ConfigError, match=r"b\.toml: cannot parse TOML"):
        load_config(_write(tmp_path / "b.toml", "[deconvolution\nlam = 2\n"))
    with pytest.raises(ConfigError, match=r"c\.yaml: expected a table of sections"):
        load_config(_write(tmp_path / "c.yaml", "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match=r"d\.json: expected a \.toml, \.yaml or \.yml"):
        load_config(_write(tmp_path / "d.json", "{}"))
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.toml")


def test_yaml_loading_is_safe(tmp_path):
    path = _write(tmp_path / "evil.yaml", "input: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="cannot parse YAML"):
        load_config(path)


def test_apply_overrides():
    base = PipelineConfig()
    c = apply_overrides(
        base,
        {
            "deconvolution.lam": 2.0,
            "deconvolution.psf.sigma_px": 1.2,
            "statistic.orders": [2, 4],
            "video.enabled": True,
            "video.step": 10,
            "noise_filter_1.enabled": True,
            "ldrc": {"enabled": False},
            "compute.scheduler": "slurm",
            "compute.cluster_options.queue": "short",
        },
    )
    assert c.deconvolution.lam == 2.0 and c.deconvolution.psf.sigma_px == 1.2
    assert c.statistic.orders == (2, 4) and c.video.step == 10
    assert c.ldrc.enabled is False and c.ldrc.window_size == (25, 25)
    assert c.compute.cluster_options == {"queue": "short"}
    assert c.final_stage == "deconvolution"
    assert base == PipelineConfig()  # the base is untouched
    assert apply_overrides(c, {"video.step": None}).video.step is None
    assert apply_overrides(base, {}) == base


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"deconvolution.lam": "abc"}, "deconvolution.lam: expected a float > 1, got 'abc'"),
        ({"deconvolution.lamda": 2}, "deconvolution.lamda: unknown key; did you mean 'lam'"),
        ({"nosuch.key": 1}, "nosuch: unknown key"),
        ({"deconvolution.lam.x": 1}, "deconvolution.lam.x: unknown key"),
        ({"deconvolution..lam": 1}, "deconvolution..lam: expected a dotted key"),
        ({"noise_filter_1.enabled": True}, "noise_filter_1.enabled: expected false unless"),
    ],
)
def test_override_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(PipelineConfig(), overrides)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deconvolution.lam=2.5", ("deconvolution.lam", 2.5)),
        ("deconvolution.iterations=30", ("deconvolution.iterations", 30)),
        ("video.enabled=true", ("video.enabled", True)),
        ("statistic.orders=[2, 4, 6]", ("statistic.orders", [2, 4, 6])),
        ("outputs.cmap=magma", ("outputs.cmap", "magma")),
        ('outputs.cmap="gray"', ("outputs.cmap", "gray")),
        ("video.step=none", ("video.step", None)),
        ("compute.scheduler=tcp://10.0.0.1:8786", ("compute.scheduler", "tcp://10.0.0.1:8786")),
        (" input.path = data/movie.tif ", ("input.path", "data/movie.tif")),
        ("deconvolution.lam=abc", ("deconvolution.lam", "abc")),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


def test_parse_override_then_apply():
    pairs = dict(parse_override(t) for t in ("deconvolution.lam=abc",))
    with pytest.raises(ConfigError, match="^deconvolution.lam: expected a float > 1, got 'abc'"):
        apply_overrides(PipelineConfig(), pairs)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("deconvolution.lam")


def test_apply_overrides_from_command_line_strings():
    c = apply_overrides(
        PipelineConfig(),
        [
            "deconvolution.lam=2",
            "statistic.orders=[2, 4]",
            "outputs.cmap=gray",
            "ldrc.mask=order4",
            "deconvolution.lam=2.5",
        ],
    )
    assert (c.deconvolution.lam, c.statistic.orders, c.outputs.cmap) == (2.5, (2, 4), "gray")
    assert c.ldrc.mask == "order4"
    assert apply_overrides(PipelineConfig(), "video.enabled=true").video.enabled is True
    with pytest.raises(ConfigError, match="^deconvolution.lam: expected a float > 1, got 'abc'"):
        apply_overrides(PipelineConfig(), ["deconvolution.lam=abc"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides(PipelineConfig(), [3])


def test_option_table_defaults_are_valid():
    rows = option_table()
    keys = [o.key for o in rows]
    assert len(keys) == len(set(keys))
    overrides = {o.key: o.default for o in rows}
    assert apply_overrides(PipelineConfig(), overrides) == PipelineConfig()
    lam = next(o for o in rows if o.key == "deconvolution.lam")
    assert (lam.default, lam.expected) == (1.5, "a float > 1") and lam.help
