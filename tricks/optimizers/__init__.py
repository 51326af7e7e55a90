"""Every optimizer of the catalogue (SPEC §1) as a registered Optax chain, and wrappers.

Optimizers (kind ``optimizer``): sgd, momentum, nesterov, adagrad, rmsprop, adadelta,
adam, amsgrad, nadam, adamw, sgdw, swats, adabound, amsbound, lbfgs, lars, lamb,
schedule_free_sgd, schedule_free_adamw (evaluated at x: `schedule_free_params`). Each
factory returns an `optax.GradientTransformationExtraArgs` built as an `optax.chain` of
small transforms, Optax's own wherever Optax has them. Wrapped from Optax: lion,
adabelief, yogi, adan, prodigy, adopt. Also radam, adamax, adafactor, and muon (Muon for
matrices, AdamW for the other parameters).

Wrappers are registered in the same kind ``optimizer`` (they take an optimizer and
return one, so they nest in specs and the registry-wide tests cover them):
clip_by_global_norm, clip_by_value, accumulate, skip_nonfinite, weight_decay, group_lr,
freeze, lookahead, on_plateau (a `reduce_on_plateau` rule from `tricks.schedules`),
sam (SAM and ASAM; its ``update`` needs ``value_fn``, which the training step passes).

The varying hyperparameters (learning_rate, momentum, b1, weight_decay) accept a number
or a schedule and live in the optimizer state (`inject`); `hyperparams` reads them from
any state, for logging each step. Where torch and Optax differ, Optax's convention is
the default and a keyword selects torch's (see each docstring).

Examples:
    >>> import jax.numpy as jnp, registry, tricks
    >>> opt = registry.build("optimizer", "clip_by_global_norm(adamw(learning_rate=1e-3), max_norm=1.0)")
    >>> state = opt.init({"kernel": jnp.ones((2, 2)), "bias": jnp.zeros(2)})
    >>> sorted(tricks.optimizers.hyperparams(state))
    ['b1', 'learning_rate', 'weight_decay']
"""

from tricks.optimizers._adabound import ScaleByAdaBoundState, adabound, amsbound, scale_by_adabound
from tricks.optimizers._adam import adam, adamw, amsgrad, nadam
from tricks.optimizers._adam_variants import adamax, radam
from tricks.optimizers._adafactor import ScaleByRelativeStepState, adafactor, scale_by_relative_step
from tricks.optimizers._muon import muon, orthogonalize, scale_by_muon
from tricks.optimizers._applied import applied_learning_rate
from tricks.optimizers._contrib import adopt, prodigy
from tricks.optimizers._adaptive import adadelta, adagrad, rmsprop
from tricks.optimizers._inject import InjectState, find_state, hyperparams, inject, set_hyperparams
from tricks.optimizers._lbfgs import ScaleByTorchLbfgsState, lbfgs
from tricks.optimizers._lookahead import LookaheadState, lookahead
from tricks.optimizers._schedule_free import (ScheduleFreeState, is_schedule_free, schedule_free_adamw,
                                              schedule_free_params, schedule_free_sgd)
from tricks.optimizers._modern import adabelief, adan, lion, yogi
from tricks.optimizers._masks import default_decay_mask, leaves_by_path, parameter_paths, path_name
from tricks.optimizers._plateau import on_plateau
from tricks.optimizers._sam import sam
from tricks.optimizers._sgd import momentum, nesterov, sgd, sgdw
from tricks.optimizers._swats import ScaleBySwatsState, scale_by_swats, swats
from tricks.optimizers._trust import lamb, lars
from tricks.optimizers._wrappers import (
    AccumulateState,
    DecoupledWeightDecayState,
    accumulate,
    clip_by_global_norm,
    clip_by_value,
    consecutive_skips,
    freeze,
    group_lr,
    skip_nonfinite,
    weight_decay,
)

__all__ = [
    "adafactor",
    "adamax",
    "muon",
    "orthogonalize",
    "radam",
    "ScaleByRelativeStepState",
    "scale_by_muon",
    "scale_by_relative_step",
    "applied_learning_rate",
    "AccumulateState",
    "DecoupledWeightDecayState",
    "InjectState",
    "LookaheadState",
    "ScaleByAdaBoundState",
    "ScaleBySwatsState",
    "ScaleByTorchLbfgsState",
    "ScheduleFreeState",
    "accumulate",
    "adabelief",
    "adan",
    "adopt",
    "adabound",
    "adadelta",
    "adagrad",
    "adam",
    "adamw",
    "amsbound",
    "amsgrad",
    "clip_by_global_norm",
    "clip_by_value",
    "consecutive_skips",
    "default_decay_mask",
    "find_state",
    "freeze",
    "group_lr",
    "hyperparams",
    "inject",
    "is_schedule_free",
    "lamb",
    "lars",
    "lbfgs",
    "lion",
    "lookahead",
    "momentum",
    "nadam",
    "nesterov",
    "on_plateau",
    "prodigy",
    "leaves_by_path",
    "parameter_paths",
    "path_name",
    "rmsprop",
    "sam",
    "scale_by_adabound",
    "scale_by_swats",
    "schedule_free_adamw",
    "schedule_free_params",
    "schedule_free_sgd",
    "set_hyperparams",
    "sgd",
    "sgdw",
    "skip_nonfinite",
    "swats",
    "weight_decay",
    "yogi",
]
