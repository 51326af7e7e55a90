"""Configs: Python files with ``get_config(arg=None)``, or YAML/JSON, plus overrides.

Examples:
    >>> import ml_collections
    >>> from tricks import config
    >>> cfg = ml_collections.ConfigDict({"seed": 0, "model": {"name": "mlp", "widths": [64]}})
    >>> config.apply_overrides(cfg, ["--config.seed=3", "--config.model=cnn(dropout=0.1)"]).model
    'cnn(dropout=0.1)'
"""

from tricks.config._load import ConfigError, load_file, split_arg
from tricks.config._override import apply_overrides


def load(path_arg: str, overrides=()):
    """Loads ``FILE[:arg]`` and applies ``--config.key=value`` overrides.

    Examples:
        >>> import json, pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.json"
        >>> _ = path.write_text(json.dumps({"batch_size": 64, "loss": "cross_entropy"}))
        >>> load(str(path), ["--config.batch_size=32"]).batch_size
        32
    """
    return apply_overrides(load_file(path_arg), overrides)


__all__ = ["ConfigError", "apply_overrides", "load", "load_file", "split_arg"]
