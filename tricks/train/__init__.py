"""The training engine: state, jitted steps, loop, metrics, writers and checkpoints.

Examples:
    >>> from tricks import train
    >>> sorted(train.default_config())[:3]
    ['augment', 'batch_size', 'checkpoint_every']
"""

from tricks.train._checkpoint import Checkpoints
from tricks.train._convolutions import canonical_convolutions
from tricks.train._parallel import Pmap, Sharded, pmap, sharded
from tricks.train._pretrained import Pretrained, load_pretrained
from tricks.train._defaults import complete, default_config
from tricks.train._distributed import initialize_distributed
from tricks.train._ema import EmaTrainState, evaluated, evaluation_params
from tricks.train._evaluate import evaluate_workdir
from tricks.metrics import GRAD_NORM_PREFIX, layer_histograms, layer_names, per_layer_grad_norms
from tricks.train._logstep import NonFiniteLossError
from tricks.train._load import Trained, load
from tricks.train._loop import train_and_evaluate
from tricks.train._population import (VECTORIZED_FIELDS, NotVectorizable, TooManyMembers, differing_fields,
                                      member_bytes, train_population, vector_key)
from tricks.train._side_by_side import side_by_side
from tricks.train._state import TrainState, create_state
from tricks.train._setup import Setup, setup
from tricks.train._workdir import WorkdirError, code_version
from tricks.train._snapshots import snapshot_steps
from tricks.train._step import make_eval_step, make_train_step

__all__ = [
    "GRAD_NORM_PREFIX",
    "VECTORIZED_FIELDS",
    "Checkpoints",
    "EmaTrainState",
    "NonFiniteLossError",
    "NotVectorizable",
    "Pmap",
    "Pretrained",
    "Sharded",
    "Setup",
    "TooManyMembers",
    "TrainState",
    "Trained",
    "WorkdirError",
    "canonical_convolutions",
    "code_version",
    "complete",
    "create_state",
    "default_config",
    "differing_fields",
    "evaluate_workdir",
    "evaluated",
    "evaluation_params",
    "initialize_distributed",
    "layer_histograms",
    "layer_names",
    "load",
    "load_pretrained",
    "make_eval_step",
    "make_train_step",
    "member_bytes",
    "per_layer_grad_norms",
    "pmap",
    "setup",
    "sharded",
    "side_by_side",
    "snapshot_steps",
    "train_and_evaluate",
    "train_population",
    "vector_key",
]
