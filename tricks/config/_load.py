"""Loads a config from a Python file (`get_config(arg=None)`), YAML or JSON."""

from __future__ import annotations

import importlib.util
import inspect
import json
import pathlib
import sys
import uuid

import ml_collections
import yaml


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message says why and what is valid.

    Examples:
        >>> load_file("no/such/config.py")
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: config file 'no/such/config.py' does not exist
    """


def split_arg(path_arg: str) -> tuple[pathlib.Path, str | None]:
    """Splits ``FILE[:arg]`` into the file and the argument for `get_config`.

    Examples:
        >>> split_arg("experiments/configs/digits.py:smoke")
        (PosixPath('experiments/configs/digits.py'), 'smoke')
        >>> split_arg("run.yaml")
        (PosixPath('run.yaml'), None)
    """
    path, sep, arg = str(path_arg).rpartition(":")
    if sep and path and not pathlib.Path(path_arg).exists():
        return pathlib.Path(path), arg
    return pathlib.Path(path_arg), None


def load_file(path_arg: str) -> ml_collections.ConfigDict:
    r"""Reads ``FILE[:arg]``: a ``.py`` file's ``get_config(arg)``, or a YAML/JSON mapping.

    Raises:
        ConfigError: the file is missing, of an unknown type, does not parse (the file
            and line are named), or does not give a mapping; or ``arg`` changes nothing in
            the config (a misspelt ``:smoke``).

    Examples:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "run.py").write_text(
        ...     "import ml_collections\n"
        ...     "def get_config(arg=None):\n"
        ...     "    return ml_collections.ConfigDict({'num_steps': 4 if arg == 'smoke' else 1000})\n")
        >>> load_file(str(folder / "run.py")).num_steps, load_file(f"{folder / 'run.py'}:smoke").num_steps
        (1000, 4)
        >>> _ = (folder / "run.yaml").write_text("optimizer: adamw(learning_rate=0.001)\nbatch_size: 64\n")
        >>> load_file(str(folder / "run.yaml")).optimizer
        'adamw(learning_rate=0.001)'
        >>> _ = (folder / "bad.py").write_text("def get_config(arg=None):\n    return {'seed': 1,)\n")
        >>> load_file(str(folder / "bad.py"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: .../bad.py:2: syntax error: closing parenthesis ')' does not match opening parenthesis '{'
    """
    path, arg = split_arg(path_arg)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".py":
        return _from_python(path, arg)
    if arg is not None:
        raise ConfigError(f"{path}: only Python configs take an argument (':{arg}')")
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    else:
        raise ConfigError(f"{path}: unknown config type {suffix!r}; use .py, .yaml, .yml or .json")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return ml_collections.ConfigDict(data, type_safe=False)


def _from_python(path: pathlib.Path, arg: str | None) -> ml_collections.ConfigDict:
    name = f"_tricks_config_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:  # (an error the code raises as it runs keeps its traceback)
        raise ConfigError(f"{exc.filename or path}:{exc.lineno}: syntax error: {exc.msg}") from None
    finally:
        sys.modules.pop(name, None)
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"{path}: a Python config must define get_config(arg=None)")
    parameters = list(inspect.signature(get_config).parameters.values())
    takes_arg = bool(parameters)
    if arg is not None and not takes_arg:
        raise ConfigError(f"{path}: get_config() takes no argument, but ':{arg}' was given")
    config = _checked(path, get_config(arg) if takes_arg else get_config())
    has_default = takes_arg and parameters[0].default is not inspect.Parameter.empty
    if arg is not None and has_default and config.to_dict() == _checked(path, get_config()).to_dict():
        # An argument that changes nothing is a typo (':smok'), which would silently run the full job.
        raise ConfigError(
            f"{path}: ':{arg}' changed nothing: get_config({arg!r}) gives the same config as "
            "get_config(); check the argument's spelling"
        )
    return config


def _checked(path: pathlib.Path, config) -> ml_collections.ConfigDict:
    if isinstance(config, dict):
        config = ml_collections.ConfigDict(config)
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"{path}: get_config must return a ConfigDict, got {type(config).__name__}")
    return config
