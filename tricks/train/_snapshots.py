"""Which steps of a run are snapshots: kept forever, the members of a snapshot ensemble."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ml_collections

import registry
from tricks import schedules
from tricks.config import ConfigError


def snapshot_steps(config: ml_collections.ConfigDict, num_steps: int) -> list[int]:
    """The steps at which `config` takes snapshots, up to `num_steps`.

    ``snapshot_every: N`` takes one every N steps; ``snapshots: "cycle_ends"`` one at each
    cycle end of the optimizer's learning-rate schedule (sgdr, cyclic, one_cycle, also
    inside warmup, scaled or join), found wherever the optimizer spec holds it, its
    left-out lengths filled from the run's.

    Raises:
        ConfigError: an unknown ``snapshots`` value, or cycle ends asked of a rate
            without cycles.

    Examples:
        >>> cfg = ml_collections.ConfigDict({"snapshots": "cycle_ends", "snapshot_every": 0,
        ...     "optimizer": "clip_by_global_norm(sgd(learning_rate=sgdr(init_value=0.1, t0=30)), max_norm=1.0)"})
        >>> snapshot_steps(cfg, 100)
        [30, 60, 90]
        >>> cfg.optimizer = "adam(learning_rate=warmup(one_cycle(max_lr=0.1), warmup_steps=10))"
        >>> snapshot_steps(cfg, 100)  # one cycle over the 90 steps after the warmup
        [100]
    """
    steps: set[int] = set()
    if config.snapshot_every > 0:
        steps.update(range(config.snapshot_every, num_steps + 1, config.snapshot_every))
    if config.snapshots == "cycle_ends":
        optimizer, _ = schedules.fit_to_run("optimizer", config.optimizer, num_steps)  # lengths left out
        rate = find_argument(optimizer, "learning_rate")
        if rate is None or isinstance(rate, (int, float)):
            raise ConfigError(
                "snapshots='cycle_ends' needs a cyclic learning rate (sgdr, cyclic, one_cycle) in the "
                f"optimizer, but its learning_rate is {rate!r}"
            )
        try:
            steps.update(s for s in schedules.cycle_ends(rate, num_steps) if s <= num_steps)
        except registry.RegistryError as exc:
            raise ConfigError(f"snapshots='cycle_ends': the learning rate {rate!r} {exc.message}") from None
    elif config.snapshots not in ("", None):
        raise ConfigError(f"snapshots must be '' or 'cycle_ends', got {config.snapshots!r}")
    return sorted(steps)


def find_argument(spec: Any, name: str) -> Any:
    """The value of argument `name` anywhere in a (nested) spec, or None.

    Examples:
        >>> find_argument("lookahead(adamw(learning_rate=cosine(init_value=1.0, decay_steps=9)))", "learning_rate")
        Spec(name='cosine', args=(), kwargs={'init_value': 1.0, 'decay_steps': 9})
    """
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    if isinstance(spec, str):
        try:
            spec = registry.parse(spec)
        except registry.RegistryError:
            return None
    if isinstance(spec, Mapping):
        if name in spec:
            return spec[name]
        children = list(spec.values())
    elif isinstance(spec, registry.Spec):
        if name in spec.kwargs:
            return spec.kwargs[name]
        children = [*spec.args, *spec.kwargs.values()]
    else:
        return None
    for child in children:
        if isinstance(child, (str, Mapping, registry.Spec)):
            found = find_argument(child, name)
            if found is not None:
                return found
    return None
