"""From a workdir to predictions: a trained run read back, with its own preprocessing."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from tricks.train._build import Components
from tricks.train._checkpoint import Checkpoints
from tricks.train._defaults import complete
from tricks.train._ema import evaluated
from tricks.train._evaluate import evaluate
from tricks.train._setup import setup
from tricks.train._state import TrainState


@dataclasses.dataclass(frozen=True)
class Trained:
    """A run's config, built components and the state of one checkpoint, ready to predict.

    Inputs are given as the run's dataset stores its features (`Dataset.stored_arrays`:
    digits' 0-16 pixel counts, Fashion-MNIST's uint8 pixels, MNIST-1D's floats), one
    example or a batch; the run's preprocessing is applied as in its evaluation: the dataset's scale,
    then the augmentations in evaluation mode (a `normalize` stays, random transforms do
    not apply), then the model in evaluation mode.

    Attributes:
        config: the run's config (every field).
        components: its dataset, model, loss, augmentations and optimizer, as built.
        state: the checkpoint's train state, its parameters (and statistics) those
            evaluation uses: `evaluation_params` (a schedule-free optimizer's x), or the
            moving average's when loaded with ``ema=True``.
        step: the checkpoint's step.
    """

    config: ml_collections.ConfigDict
    components: Components
    state: TrainState
    step: int
    _eval_step: Any = dataclasses.field(repr=False, default=None)
    _probabilities: Any = dataclasses.field(repr=False, default=None)
    eval_loaders: dict = dataclasses.field(repr=False, default_factory=dict)
    """The loaders of the config's evaluation splits that the dataset has."""

    def evaluate_splits(self) -> dict[str, dict[str, Any]]:
        """The evaluation metrics of each of `eval_loaders`' splits, as training reports them."""
        return {split: evaluate(self._eval_step, self.state, loader.eval_batches())
                for split, loader in self.eval_loaders.items()}

    @property
    def model(self):
        """The Flax module."""
        return self.components.model

    @property
    def params(self):
        """The checkpoint's evaluated parameters (see `state`)."""
        return self.state.params

    @property
    def variables(self) -> dict:
        """``{"params", "batch_stats"}`` as ``model.apply`` takes them."""
        return self.state.variables()

    def predict(self, inputs: Any, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities, (N, num_classes) for N examples, (num_classes,) for one.

        Raises:
            ValueError: inputs whose shape is not the dataset's (one example or a batch).
        """
        x, single = self._batched(inputs)
        out = [np.asarray(self._probabilities(self.variables, self._preprocess(x[i:i + batch_size])))
               for i in range(0, len(x), batch_size)]
        probs = np.concatenate(out) if out else np.zeros((0, self.components.num_classes), np.float32)
        return probs[0] if single else probs

    def evaluate(self, inputs: Any, labels: Any, batch_size: int = 1000) -> dict[str, Any]:
        """The run's evaluation metrics (``eval_metrics``: loss and accuracy by default) on
        these examples, and ``examples``.

        Raises:
            ValueError: inputs of the wrong shape, or labels that are not one integer class
                in [0, num_classes) per example.
        """
        x, _ = self._batched(inputs)
        y = np.asarray(labels)
        classes = self.components.num_classes
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (y.size and not (
                0 <= y.min() and y.max() < classes)):
            raise ValueError(f"labels must be {len(x)} integers in [0, {classes}), one per example; got "
                             f"shape {y.shape}, dtype {y.dtype}")
        batches = ({"image": jnp.asarray(self.components.dataset.to_float(x[i:i + batch_size])),
                    "label": jnp.asarray(y[i:i + batch_size], jnp.int32)} for i in range(0, len(x), batch_size))
        return evaluate(self._eval_step, self.state, batches)

    def _batched(self, inputs: Any) -> tuple[np.ndarray, bool]:
        x = np.asarray(inputs)
        shape = tuple(self.components.dataset.input_shape)
        if x.shape == shape:
            return x[None], True
        if x.shape[1:] != shape:
            raise ValueError(f"inputs must have shape {shape} (one example) or (N, {', '.join(map(str, shape))}) "
                             f"as dataset {self.components.dataset.name} stores them; got {x.shape}")
        return x, False

    def _preprocess(self, x: np.ndarray) -> jax.Array:
        image = jnp.asarray(self.components.dataset.to_float(x))
        labels = jnp.zeros((len(x), self.components.num_classes), jnp.float32)
        return self.components.augment({"image": image, "label": labels}, jax.random.key(0), False)["image"]


def load(workdir: str | pathlib.Path, step: int | None = None, dataset: Any = None,
         splits: Any = None, ema: bool = False) -> Trained:
    """Reads a run back from its workdir: its config rebuilt, a checkpoint restored.

    Nothing in the workdir is changed: a damaged checkpoint (see
    `Checkpoints.restore_latest_valid`) is passed over with a warning, left where it is.

    Args:
        workdir: a folder written by `train_and_evaluate` (finished or still training:
            only finished checkpoints are read, and one that the run deletes while it is
            read gives way to the newest one left).
        step: the checkpoint's step; None takes the newest that restores whole.
        dataset: the dataset to use instead of the config's: needed for a run trained on
            arrays given in memory (`tricks.data.from_arrays`), which are not saved.
        splits: the evaluation splits (`Trained.eval_loaders`); the config's if None.
        ema: the moving average of the weights (and statistics) instead of the weights
            (a run trained with ``ema_decay`` > 0). Otherwise the parameters are those
            evaluation uses (`evaluation_params`: a schedule-free optimizer's x).

    Raises:
        FileNotFoundError: no such workdir, no ``config.json``, no checkpoint (or none
            that is not damaged), or no checkpoint at `step` (the message lists the steps
            there are).
        ValueError: a ``config.json`` that is not a JSON object; a checkpoint at `step`
            that is damaged (`DamagedCheckpointError`).
            With `ema`, a run trained without a moving average (``ema_decay`` 0).
        tricks.config.ConfigError: a run trained on arrays in memory, loaded without them.

    Examples:
        >>> import tempfile
        >>> from tricks import train
        >>> cfg = train.default_config()
        >>> cfg.num_steps, cfg.eval_every, cfg.progress = 40, 40, False
        >>> workdir = tempfile.mkdtemp()
        >>> _ = train.train_and_evaluate(cfg, workdir)  # doctest: +ELLIPSIS
        step 40: ...
        >>> run = train.load(workdir)
        >>> x, y = run.components.dataset.stored_arrays("test")  # as stored: digits' 0-16 counts
        >>> run.predict(x[:3]).shape, round(float(run.predict(x[0]).sum()), 4)
        ((3, 10), 1.0)
        >>> sorted(run.evaluate(x, y))
        ['accuracy', 'examples', 'loss']
    """
    workdir = pathlib.Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(f"workdir {workdir} does not exist")
    path = workdir / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{workdir} holds no config.json: not a training workdir (written by 'tricks train')")
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise ValueError(f"a JSON {type(record).__name__}, not an object")
    except ValueError as exc:  # not UTF-8 text, not JSON, or not a JSON object
        raise ValueError(f"{path} is not a readable config ({exc})") from None
    checkpoints = Checkpoints(workdir, read_only=True)
    try:
        steps = checkpoints.steps()
        if not steps:
            raise FileNotFoundError(f"{workdir} holds no checkpoint (no finished step under {workdir / 'checkpoints'})")
        if step is not None and int(step) not in steps:
            raise FileNotFoundError(f"{workdir} has no checkpoint at step {step}; steps saved: {steps}")
        config = complete(ml_collections.ConfigDict(record))
        if ema and not config.ema_decay:
            raise ValueError(f"{workdir} was trained without a moving average of its weights (ema_decay 0): "
                             f"there are no averaged weights to load")
        built = config.copy_and_resolve_references()
        built.parallel = "sharded"  # read back for one program over the devices, whatever the run used
        if dataset is not None:
            built.dataset = dataset
        if splits is not None:
            built.eval_splits = list(splits)
        run = setup(built)
        if step is None:
            restored = checkpoints.restore_latest_valid(run.state)
            if restored is None:
                raise FileNotFoundError(f"{workdir} holds no usable checkpoint: every one under "
                                        f"{checkpoints.directory} is damaged")
            step, state, _ = restored
        else:
            step = int(step)
            state, _ = checkpoints.restore(step, run.state)
    finally:
        checkpoints.close()
    state = evaluated(state, ema)
    model = run.components.model
    probabilities = jax.jit(lambda variables, image: jax.nn.softmax(
        model.apply(variables, image, train=False).astype(jnp.float32), axis=-1))
    return Trained(config, run.components, state, step, run.eval_step, probabilities, run.eval_loaders)
