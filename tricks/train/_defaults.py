"""Every standard field of a training config, with its default, and the check of a config."""

from __future__ import annotations

import math
from typing import Any

import ml_collections

import registry
from registry import suggest
from tricks.config import ConfigError
from tricks.data import SPLITS

PRECISIONS = ("float32", "bfloat16")
"""The values of ``precision``: parameters, optimizer state, batch-norm statistics, logits and
the loss are float32 in both; ``bfloat16`` computes convolutions, matmuls and activations in
bfloat16 (each model's ``dtype``)."""


def default_config() -> ml_collections.ConfigDict:
    """Every standard field of a training run; together, the embedded default run.

    The default run is an MLP on scikit-learn's 8x8 digits (1437 train / 360 test):
    about 98.5% test accuracy in 5 to 15 s on 2 CPU cores (experiments/configs/digits.py).
    Component fields (dataset, model, loss, optimizer, augment entries) are registry specs:
    a name, a call string or a mapping with ``name``.

    Examples:
        >>> cfg = default_config()
        >>> cfg.dataset, cfg.batch_size, cfg.num_epochs
        ('digits', 128, 40)
    """
    cfg = ml_collections.ConfigDict(type_safe=False)
    cfg.dataset = "digits"  # a dataset spec
    cfg.model = "mlp(widths=(256, 256), dropout=0.1)"  # num_classes is filled in from the dataset
    cfg.loss = "cross_entropy(label_smoothing=0.05)"
    cfg.optimizer = {
        "name": "adamw",
        "learning_rate": "warmup(cosine(init_value=0.003), warmup_steps=40)",  # cosine over the rest of the run
        "weight_decay": 1e-4,
    }
    cfg.augment = []  # a list of augment specs, applied in order on the device
    cfg.batch_size = 128  # the global batch, over all devices and hosts
    cfg.eval_batch_size = 1000
    cfg.num_steps = 0  # > 0 wins over num_epochs
    cfg.num_epochs = 40  # 40 epochs of digits = 400 steps
    cfg.eval_every = 100  # steps between evaluations; 0: once per epoch
    cfg.log_every = 20
    cfg.histogram_every = 100  # steps between TensorBoard gradient histograms (at log steps); 0: none
    cfg.steps_per_call = 0  # steps one jitted call runs at most; 0: 100 (CPU: fewer past 4 MiB of rows)
    cfg.eval_splits = ["validation", "test"]  # splits the dataset lacks are skipped
    # metric specs (kind `metric`): summed ones are averaged over each log interval, the others
    # (norms, rates) taken at the log step; evaluation's are summed over the whole split
    cfg.train_metrics = ["loss", "accuracy", "learning_rate", "hyperparams", "grad_norm", "param_norm"]
    cfg.eval_metrics = ["loss", "accuracy"]
    cfg.seed = 0
    cfg.parallel = "sharded"  # a parallel spec: sharded (jit over a mesh) or pmap
    cfg.distributed = ml_collections.ConfigDict(  # multi-host; the environment may say it instead
        {"coordinator": "", "num_processes": 0, "process_id": -1, "auto": False, "timeout_s": 300},
        type_safe=False,
    )
    cfg.checkpoint_every = 0  # steps between checkpoints; 0: only at the end
    cfg.keep = 3  # recent checkpoints kept (snapshots are kept regardless)
    cfg.snapshots = ""  # "cycle_ends": a snapshot at each cycle end of the rate (sgdr, cyclic)
    cfg.snapshot_every = 0  # > 0: a snapshot every N steps (snapshots are never deleted)
    cfg.ema_decay = 0.0  # > 0 (< 1): an exponential moving average of the weights, evaluated too (eval_ema/)
    cfg.ema_warmup = False  # the EMA's decay at step t is min(ema_decay, (1 + t) / (10 + t)) (TensorFlow's)
    cfg.init_from = ""  # fine-tuning: "DIR" or "DIR:STEP", a run whose params and batch_stats start this one
    cfg.init_fresh = []  # regexes of paths (e.g. "head") left freshly initialized under init_from
    cfg.init_from_ema = False  # with init_from: the source's moving average of the weights (its ema_decay > 0)
    cfg.class_balanced = False  # sample classes uniformly instead of examples
    cfg.progress = True  # console progress bar
    cfg.precision = "float32"  # or "bfloat16": convolutions, matmuls, activations in bf16 (PRECISIONS)
    cfg.deterministic = True  # deterministic GPU kernels (XLA:CPU and TPUs are deterministic anyway)
    cfg.compilation_cache = "auto"  # JAX's persistent compilation cache: a folder; auto: $TRICKS_CACHE/xla,
    # else ~/.cache/tricks/xla; "": none
    return cfg


def complete(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` with every missing standard field set to its default, and checked.

    Raises:
        ConfigError: a top-level field that is not a standard one (with suggestions); a
            step count, interval, batch size or seed that is not a whole number in its
            range (step counts are int32); no steps at all; a bool field given anything but
            a bool; ``eval_splits`` that is not a list of split names; a ``precision``
            not in `PRECISIONS`; an ``ema_decay`` that is not 0 or in (0, 1); a
            ``compilation_cache`` that is not a string; or a number
            anywhere (specs included) that is not finite.

    Examples:
        >>> complete(ml_collections.ConfigDict({"batch_size": 64})).log_every
        20
        >>> complete(ml_collections.ConfigDict({"batch_sise": 64}))
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: unknown config field 'batch_sise' (did you mean 'batch_size' or 'eval_batch_size'?); valid fields: ...
        >>> complete(ml_collections.ConfigDict({"eval_splits": ["tset"]}))
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: config field 'eval_splits': unknown split 'tset' (did you mean 'test'?); valid splits: train, validation, test
        >>> complete(ml_collections.ConfigDict({"optimizer": "adamw(learning_rate=1e999)"}))
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: config field 'optimizer.learning_rate' must be a finite number, got inf
        >>> complete(ml_collections.ConfigDict({"precision": "bf16"}))
        Traceback (most recent call last):
        ...
        tricks.config._load.ConfigError: config field 'precision' must be one of float32, bfloat16, got 'bf16' (did you mean 'bfloat16'?)
    """
    defaults = default_config().to_dict()
    merged = default_config().to_dict()
    _merge(merged, config.to_dict(), "")
    for key, (least, most) in _COUNTS.items():
        value = merged[key]
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
            bounds = f"in [{least}, {_BOUND_TEXT.get(most, most)}]"
            raise ConfigError(f"config field '{key}' must be a whole number {bounds}, got {value!r}")
    if merged["num_steps"] == 0 and merged["num_epochs"] == 0:
        raise ConfigError("config fields 'num_steps' and 'num_epochs' are both 0, so nothing would be trained; "
                          "set num_steps > 0 (or num_epochs > 0)")
    _check_bools(merged, defaults, "")
    _check_splits(merged["eval_splits"])
    if merged["precision"] not in PRECISIONS:
        hint = suggest(merged["precision"], PRECISIONS) if isinstance(merged["precision"], str) else ""
        raise ConfigError(f"config field 'precision' must be one of {', '.join(PRECISIONS)}, got "
                          f"{merged['precision']!r}{hint}")
    decay = merged["ema_decay"]
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not (decay == 0 or 0 < decay < 1):
        raise ConfigError(f"config field 'ema_decay' must be 0 (no weight averaging) or a number in (0, 1), "
                          f"got {decay!r}")
    if merged["init_from_ema"] and not merged["init_from"]:
        raise ConfigError("config field 'init_from_ema' is true, but init_from names no run to load the moving "
                          "average from")
    if not isinstance(merged["compilation_cache"], str):
        raise ConfigError(f"config field 'compilation_cache' must be a folder, or '' for none, got "
                          f"{merged['compilation_cache']!r}")
    _check_finite(merged, "")
    return ml_collections.ConfigDict(merged, type_safe=False)


_INT32 = 2**31 - 1
_BOUND_TEXT = {_INT32: "2**31 - 1", 2**32 - 1: "2**32 - 1"}
_COUNTS = {"batch_size": (1, _INT32), "eval_batch_size": (1, _INT32), "num_steps": (0, _INT32),
           "num_epochs": (0, _INT32), "eval_every": (0, _INT32), "log_every": (1, _INT32),
           "histogram_every": (0, _INT32), "steps_per_call": (0, _INT32), "checkpoint_every": (0, _INT32),
           "keep": (1, _INT32), "snapshot_every": (0, _INT32), "seed": (0, 2**32 - 1)}
"""The integer fields and their valid ranges: steps are counted in int32, seeds are uint32;
``keep`` >= 1, since a run that keeps no checkpoint cannot be resumed or evaluated."""


def _check_bools(merged: dict, defaults: dict, where: str) -> None:
    """Refuses a non-bool where the default is a bool (the string "no" would count as true)."""
    for key, default in defaults.items():
        value = merged[key]
        if isinstance(default, dict) and "name" not in default and isinstance(value, dict):  # not a spec
            _check_bools(value, default, f"{where}{key}.")
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"config field '{where}{key}' must be true or false, got {value!r}")


def _check_splits(splits: Any) -> None:
    """Refuses ``eval_splits`` that is not a non-empty list of known split names."""
    valid = ", ".join(SPLITS)
    if isinstance(splits, str) or not isinstance(splits, (list, tuple)) or not splits:
        raise ConfigError(f"config field 'eval_splits' must be a non-empty list of split names ({valid}), "
                          f"got {splits!r}")
    for split in splits:
        if split not in SPLITS:
            hint = suggest(split, SPLITS) if isinstance(split, str) else ""
            raise ConfigError(f"config field 'eval_splits': unknown split {split!r}{hint}; valid splits: {valid}")


def _check_finite(value: Any, where: str) -> None:
    """Refuses an infinite or NaN number anywhere in `value`, inside spec strings too."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config field '{where}' must be a finite number, got {value!r}")
    if isinstance(value, str) and "(" in value:
        try:
            value = registry.parse(value)
        except registry.RegistryError:
            return  # reported, with the field, when the spec is built
    if isinstance(value, registry.Spec):
        items = [*((f"[{i}]", v) for i, v in enumerate(value.args)), *((f".{k}", v) for k, v in value.kwargs.items())]
    elif isinstance(value, dict):
        items = [(f".{k}", v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        return
    for suffix, item in items:
        _check_finite(item, f"{where}{suffix}".removeprefix("."))


def _merge(defaults: dict, given: dict, where: str) -> None:
    """Overlays `given` on `defaults`; plain sub-dicts (not specs) merge key by key."""
    for key, value in given.items():
        if key not in defaults:
            valid = ", ".join(sorted(defaults))
            raise ConfigError(f"unknown config field '{where}{key}'{suggest(key, defaults)}; valid fields: {valid}")
        old = defaults[key]
        if isinstance(old, dict) and "name" not in old and isinstance(value, dict):
            _merge(old, value, f"{where}{key}.")
        else:
            defaults[key] = value
