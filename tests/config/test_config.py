"""Config files (Python, YAML, JSON) and typed command-line overrides."""

import json

import ml_collections
import pytest

from tricks import config
from tricks.config import ConfigError

PY_CONFIG = '''
import ml_collections

def get_config(arg=None):
    """A tiny config; 'smoke' shrinks it."""
    cfg = ml_collections.ConfigDict()
    cfg.num_steps = 10 if arg == "smoke" else 1000
    cfg.batch_size = 128
    cfg.seed = 0
    cfg.use_bn = False
    cfg.widths = [64, 64]
    cfg.optimizer = {"name": "sgd", "learning_rate": 0.1}
    cfg.schedule = "cosine(init_value=0.1, decay_steps=100)"
    cfg.data = {"name": "digits", "validation_fraction": 0.1}
    cfg.train = {"log_every": 10}
    return cfg
'''


@pytest.fixture
def py_config(tmp_path):
    path = tmp_path / "run.py"
    path.write_text(PY_CONFIG)
    return path


def test_python_config_with_argument(py_config):
    assert config.load(str(py_config)).num_steps == 1000
    assert config.load(f"{py_config}:smoke").num_steps == 10


def test_an_argument_that_changes_nothing_is_refused(py_config):
    with pytest.raises(ConfigError, match=r"':smok' changed nothing: get_config\('smok'\) gives the same"):
        config.load(f"{py_config}:smok")


def test_a_required_argument_is_passed_as_given(tmp_path):
    path = tmp_path / "sized.py"
    path.write_text("import ml_collections\n"
                    "def get_config(arg):\n"
                    "    return ml_collections.ConfigDict({'width': int(arg)})\n")
    assert config.load(f"{path}:64").width == 64


def test_yaml_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text("batch_size: 32\noptimizer:\n  name: adam\n  learning_rate: 0.001\n")
    (tmp_path / "a.json").write_text(json.dumps({"batch_size": 32, "optimizer": "adam"}))
    assert config.load(str(tmp_path / "a.yaml")).optimizer.name == "adam"
    assert config.load(str(tmp_path / "a.json"), ["--config.batch_size=64"]).batch_size == 64


def test_overrides_are_typed_by_existing_values(py_config):
    cfg = config.load(
        str(py_config),
        ["--config.num_steps=5", "--config.optimizer.learning_rate=0.3", "--config.use_bn=true",
         "--config.widths=[32, 16, 8]", "--config.data.name=mnist1d"],
    )
    assert cfg.num_steps == 5 and isinstance(cfg.num_steps, int)
    assert cfg.optimizer.learning_rate == 0.3
    assert cfg.use_bn is True
    assert list(cfg.widths) == [32, 16, 8]
    assert cfg.data.name == "mnist1d"


def test_a_spec_string_replaces_a_mapping_and_a_spec_keeps_its_form(py_config):
    cfg = config.load(str(py_config), ["--config.optimizer=adamw(learning_rate=3e-4)"])
    assert cfg.optimizer == "adamw(learning_rate=3e-4)"
    cfg = config.load(str(py_config), ["--config.schedule.decay_steps=50", "--config.schedule.alpha=0.1"])
    assert cfg.schedule == "cosine(init_value=0.1, decay_steps=50, alpha=0.1)"
    cfg = config.load(str(py_config), ["--config.optimizer.momentum=one_cycle_momentum(total_steps=10)"])
    assert cfg.optimizer.momentum == "one_cycle_momentum(total_steps=10)"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("--config.batch_sise=3", "unknown key 'batch_sise' in the config (did you mean 'batch_size'?); valid keys: "
         "batch_size, data, num_steps, optimizer, schedule, seed, train, use_bn, widths"),
        ("--config.train.log_evry=5", "unknown key 'log_evry' in train (did you mean 'log_every'?); valid keys: log_every"),
        ("--config.num_steps=ten", "expected an int, got 'ten'"),
        ("--config.use_bn=maybe", "expected a bool"),
        ("--config.batch_size", "must look like --config.key=value"),
        ("--config.seed.x=1", "seed is an int, which has no field 'x'; for example --config.seed=1"),
        ("--config.optimizer={1", "invalid spec '{1'"),
        ("--config.widths=3", "expected a list"),
    ],
)
def test_bad_overrides(py_config, override, fragment):
    with pytest.raises(ConfigError) as info:
        config.load(str(py_config), [override])
    assert fragment in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(str(tmp_path / "missing.py"))
    (tmp_path / "x.toml").write_text("a = 1")
    with pytest.raises(ConfigError, match="unknown config type"):
        config.load(str(tmp_path / "x.toml"))
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config.load(str(tmp_path / "list.yaml"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        config.load(str(tmp_path / "bad.json"))
    (tmp_path / "noget.py").write_text("x = 1\n")
    with pytest.raises(ConfigError, match="must define get_config"):
        config.load(str(tmp_path / "noget.py"))
    (tmp_path / "noarg.py").write_text("def get_config():\n    return {'a': 1}\n")
    assert config.load(str(tmp_path / "noarg.py")).a == 1
    with pytest.raises(ConfigError, match="takes no argument"):
        config.load(f"{tmp_path / 'noarg.py'}:smoke")
    with pytest.raises(ConfigError, match="only Python configs take an argument"):
        config.load(f"{tmp_path / 'list.yaml'}:smoke")


def test_overrides_do_not_mutate_the_input():
    cfg = ml_collections.ConfigDict({"a": 1})
    config.apply_overrides(cfg, ["a=2"])
    assert cfg.a == 1
