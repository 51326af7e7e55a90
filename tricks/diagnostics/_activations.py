"""Judging an initialization by the activations it produces (SPEC §4).

One batch goes through the untrained model; every hidden activation that the model sows
into its ``intermediates`` collection (after the nonlinearity, see `tricks.models`) is
summarized per layer. A good initialization keeps these distributions in a fixed range
from layer to layer: they neither collapse towards one value nor saturate the
nonlinearity (|tanh| > 0.99; sigmoid < 0.01 or > 0.99) nor leave ReLUs dead.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import registry
from tricks._text import aligned
from tricks.diagnostics._specs import override

SATURATION = {"tanh": (-0.99, 0.99), "sigmoid": (0.01, 0.99)}
"""Outputs outside these bounds count as saturated, per activation."""

RELU_LIKE = ("relu",)
"""Activations whose units can die (output exactly 0 on every example)."""

COLLAPSE_RATIO = 0.2
"""The verdict calls a scheme collapsing when the last hidden layer's std is below this
fraction of the first's (and exploding above its inverse), or when any layer's scale is
below this fraction of the input's (see `GROWTH_LIMIT`)."""

GROWTH_LIMIT = 2.0
"""The verdict calls a scheme exploding when a layer's scale is above this multiple of the input's.

A layer's scale is its RMS (`LayerStats.rms`), the quantity the next layer's pre-activation
variance is proportional to; every layer is judged against the input's RMS, at any depth
(with one layer the last/first ratio is always 1 and judges nothing). The two sides are
not symmetric. Below, the bound is `COLLAPSE_RATIO`, as for the depth ratio: Xavier's
fan average and the contractive tanh and sigmoid shrink the scale by design (measured
down to 0.37 of the input for Xavier on tanh MLPs of 1 to 10 layers). Above, no standard
scheme grows it: Kaiming, the largest, keeps E[h²] equal to the input's (He et al. 2015;
measured 0.9-1.5 over 10 ReLU layers on digits), so more than twice the input's scale
means the weights are too large (``normal(stddev=1.0)`` on digits' 64 inputs: 5.6 in one
ReLU layer, std 2.3). Bounded activations (tanh, sigmoid) cannot explode: too large
weights show there as saturation."""

SATURATED_SHARE = 0.05
"""The verdict calls a scheme saturating when a layer has more than this share saturated."""

DEAD_SHARE = 0.5
"""The verdict calls a scheme killing units when a layer has more than this share dead.

With zero biases, which units are dead does not depend on the init's scale, only on its
random directions (ReLU(c·Wx) = c·ReLU(Wx)): every Gaussian scheme with the same seed
kills the same units, and the share grows with depth (Lu et al. 2019, "Dying ReLU and
initialization"; 4% in the first layer to 27% in the tenth of the 10-layer digits MLP).
So the threshold flags only a layer where most units are dead; the std ratio is what
tells ReLU schemes apart."""


@dataclasses.dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer's activations over a batch.

    Attributes:
        mean: mean over all examples and units.
        std: standard deviation over all examples and units.
        saturated: share of outputs beyond `SATURATION` (tanh, sigmoid); None for others.
        dead: share of units (last axis) that are exactly 0 on every example (ReLU); None
            for other activations.
    """

    mean: float
    std: float
    saturated: float | None
    dead: float | None

    @property
    def rms(self) -> float:
        """The root mean square of the activations, sqrt(mean² + std²): the layer's scale.

        Examples:
            >>> LayerStats(mean=0.3, std=0.4, saturated=None, dead=0.0).rms
            0.5
        """
        return math.hypot(self.mean, self.std)


def layer_statistics(values: jax.Array, activation: str | None) -> LayerStats:
    """`LayerStats` of one activation array (N, ..., units).

    Examples:
        >>> import jax.numpy as jnp
        >>> layer_statistics(jnp.array([[0.0, 1.0], [0.0, 3.0]]), "relu")
        LayerStats(mean=1.0, std=1.224744..., saturated=None, dead=0.5)
        >>> layer_statistics(jnp.array([[0.995, 0.5], [-1.0, 0.0]]), "tanh").saturated
        0.5
    """
    x = jnp.asarray(values, jnp.float32)
    saturated = dead = None
    if activation in SATURATION:
        low, high = SATURATION[activation]
        saturated = float(jnp.mean((x < low) | (x > high)))
    if activation in RELU_LIKE:
        units = x.reshape(-1, x.shape[-1])
        dead = float(jnp.mean(jnp.all(units == 0, axis=0)))
    return LayerStats(float(jnp.mean(x)), float(jnp.std(x)), saturated, dead)


def _forward(model: Any) -> Any:
    """The jitted evaluation-mode forward pass of `model`, returning the sown intermediates."""
    return jax.jit(lambda v, x: model.apply(v, x, train=False, mutable=["intermediates"])[1])


def activations(model: Any, variables: Any, inputs: jax.Array) -> dict[str, np.ndarray]:
    """Every hidden activation the model sows, as host arrays, in layer order.

    Args:
        model: a Flax module, or a function ``(variables, inputs) -> mutable state``
            holding ``intermediates`` (as `compare_inits` passes, to reuse one compiled
            forward pass for several schemes).

    Examples:
        >>> import jax, jax.numpy as jnp, tricks
        >>> model = tricks.models.mlp(3, widths=(4, 5))
        >>> x = jnp.ones((2, 6))
        >>> acts = activations(model, model.init(jax.random.key(0), x), x)
        >>> {k: v.shape for k, v in acts.items()}
        {'Dense_0_activation': (2, 4), 'Dense_1_activation': (2, 5)}
    """
    forward = _forward(model) if hasattr(model, "apply") else model
    state = forward(variables, inputs)
    found = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state.get("intermediates", {}))[0]:
        names = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
        if names and names[-1].isdigit():  # sow stores a tuple of values
            names = names[:-1]
        found["/".join(names)] = np.asarray(leaf)
    if not found:
        raise ValueError(
            f"{getattr(model, '__name__', type(model).__name__)} sows no activations into 'intermediates'; "
            "the init diagnostics need "
            "self.sow('intermediates', '<layer>_activation', x) after each nonlinearity"
        )
    return found


@dataclasses.dataclass(frozen=True)
class InitReport:
    """What one initialization scheme does to the activations of one batch.

    Attributes:
        init: the ``init`` spec.
        activation: the model's nonlinearity (None if unknown).
        layers: layer name -> `LayerStats`, input to output.
        values: layer name -> the activations themselves (for histograms).
        input_rms: the RMS of the batch's inputs, the scale every layer is judged against
            (1.0 for inputs of unit scale).
    """

    init: str
    activation: str | None
    layers: dict[str, LayerStats]
    values: dict[str, np.ndarray]
    input_rms: float = 1.0

    @property
    def std_ratio(self) -> float:
        """std of the last hidden layer over std of the first: 1 means the scale is kept.

        A first layer with std 0 gives 0 if the last one is 0 too (everything collapsed,
        as with zero init), else infinity.
        """
        stds = [s.std for s in self.layers.values()]
        if stds[0] == 0:
            return 0.0 if stds[-1] == 0 else math.inf
        return stds[-1] / stds[0]

    @property
    def scales(self) -> list[float]:
        """Each layer's scale (`LayerStats.rms`) over the input's: 1 means the input's scale is kept.

        Inputs of scale 0 give 0 for a layer of scale 0 too, else infinity.

        Examples:
            >>> layers = {"a": LayerStats(0.0, 0.5, None, None), "b": LayerStats(0.0, 3.0, None, None)}
            >>> InitReport("normal", "relu", layers, {}, input_rms=0.5).scales
            [1.0, 6.0]
        """
        if self.input_rms == 0:
            return [0.0 if s.rms == 0 else math.inf for s in self.layers.values()]
        return [s.rms / self.input_rms for s in self.layers.values()]

    def verdict(self) -> str:
        """``"healthy"``, or the problems: ``"collapses"``, ``"explodes"``, ``"saturates"``, ``"dead units"``.

        A scheme collapses when the last layer's std falls below `COLLAPSE_RATIO` of the
        first's, or any layer's scale below `COLLAPSE_RATIO` of the input's; it explodes
        when the std grows by more than 1 / `COLLAPSE_RATIO` from the first layer to the
        last, or any layer's scale exceeds `GROWTH_LIMIT` times the input's (not for tanh
        and sigmoid, which saturate instead). Every layer is judged, whatever the depth: a
        single layer has a last/first ratio of 1 and would otherwise pass any scale. It
        saturates or kills units when a layer has more than `SATURATED_SHARE` saturated or
        `DEAD_SHARE` dead.

        Examples:
            >>> one = {"Dense_0_activation": LayerStats(1.6, 2.3, None, 0.02)}
            >>> InitReport("normal(stddev=1.0)", "relu", one, {}, input_rms=0.49).verdict()
            'explodes'
            >>> InitReport("kaiming_normal", "relu", one, {}, input_rms=2.8).verdict()
            'healthy'
        """
        problems = []
        ratio, scales = self.std_ratio, self.scales
        if ratio < COLLAPSE_RATIO or min(scales) < COLLAPSE_RATIO:
            problems.append("collapses")
        bounded = self.activation in SATURATION
        if ratio > 1 / COLLAPSE_RATIO or (not bounded and max(scales) > GROWTH_LIMIT):
            problems.append("explodes")
        if any(s.saturated is not None and s.saturated > SATURATED_SHARE for s in self.layers.values()):
            problems.append("saturates")
        if any(s.dead is not None and s.dead > DEAD_SHARE for s in self.layers.values()):
            problems.append("dead units")
        return ", ".join(problems) or "healthy"


def compare_inits(
    model_spec: Any,
    inits: Sequence[str],
    inputs: jax.Array,
    num_classes: int,
    seed: int = 0,
) -> dict[str, InitReport]:
    """Builds the model once per init scheme and reports the activations of one batch.

    Args:
        model_spec: a model spec; its ``init`` argument is replaced by each scheme (and
            ``num_classes`` is set).
        inits: ``init`` specs, e.g. ``["xavier_normal", "normal(stddev=0.01)"]``.
        inputs: one batch of inputs.
        num_classes: the model's number of outputs.
        seed: the parameter-initialization seed (the same for every scheme).

    Returns:
        init spec -> `InitReport`, in the order given.

    Raises:
        registry.RegistryError: a bad init spec, or a model without an ``init`` argument.

    Examples:
        >>> import jax, tricks
        >>> spec = "mlp(widths=[32, 32, 32], activation='tanh')"
        >>> x = jax.random.normal(jax.random.key(0), (16, 8))
        >>> reports = compare_inits(spec, ["xavier_normal", "normal(stddev=1.0)"], x, num_classes=3)
        >>> [(name, r.verdict()) for name, r in reports.items()]
        [('xavier_normal', 'healthy'), ('normal(stddev=1.0)', 'saturates')]
    """
    name = override("model", model_spec, {}).name
    if "init" not in {p.name for p in registry.describe("model", name).parameters}:
        raise registry.RegistryError(f"model {name!r} has no init argument to override", argument="init")
    reports = {}
    models = {}
    for init in inits:
        registry.build("init", init)  # a bad scheme fails here, naming the init kind
        models[init] = registry.build(
            "model", override("model", model_spec, {"init": init, "num_classes": num_classes})
        )
    # The schemes differ only in how parameters start: one compiled forward pass serves them all.
    forward = _forward(next(iter(models.values())))
    keys = {"params": jax.random.key(seed), "dropout": jax.random.key(seed + 1)}
    input_rms = float(jnp.sqrt(jnp.mean(jnp.square(jnp.asarray(inputs, jnp.float32)))))
    for init, model in models.items():
        # Eager, not jitted: every scheme would compile its own init, while eager operations of
        # the same shapes are compiled once for all (measured 2x faster for 5 schemes, 10 layers).
        variables = model.init(keys, inputs, train=False)
        activation = getattr(model, "activation", None)
        values = activations(forward, variables, inputs)
        layers = {layer: layer_statistics(v, activation) for layer, v in values.items()}
        reports[init] = InitReport(init, activation, layers, values, input_rms)
    return reports


def init_table(reports: Mapping[str, InitReport]) -> str:
    """A text table: one row per scheme and layer, then a verdict per scheme.

    Each row gives the layer's mean, std, scale (RMS over the input's, see
    `InitReport.scales`), saturated and dead shares; each column is as wide as its longest
    cell. The verdict line recalls what it was judged on: the layers' scales and, with
    more than one layer, the last/first std ratio.

    Examples:
        >>> import numpy as np
        >>> stats = {"Dense_0_activation": LayerStats(0.0, 0.5, 0.01, None)}
        >>> print(init_table({"xavier_normal": InitReport("xavier_normal", "tanh", stats, {})}))
        init           layer                 mean     std  scale  saturated  dead
        xavier_normal  Dense_0_activation  0.0000  0.5000   0.50       1.0%     -
        xavier_normal: healthy (layer scale 0.50× the input's)
    """
    header = ["init", "layer", "mean", "std", "scale", "saturated", "dead"]
    rows = [
        [
            name,
            layer,
            f"{s.mean:.4f}",
            f"{s.std:.4f}",
            f"{scale:.2f}",
            "-" if s.saturated is None else f"{100 * s.saturated:.1f}%",
            "-" if s.dead is None else f"{100 * s.dead:.1f}%",
        ]
        for name, report in reports.items()
        for (layer, s), scale in zip(report.layers.items(), report.scales)
    ]
    lines = aligned([header, *rows], "<<>>>>>")  # names flush left, numbers flush right
    for name, report in reports.items():
        low, high = min(report.scales), max(report.scales)
        scale = f"{low:.2f}" if len(report.scales) == 1 else f"{low:.2f}-{high:.2f}"
        ratio = f"last/first layer std {report.std_ratio:.2f}; " if len(report.layers) > 1 else ""
        lines.append(f"{name}: {report.verdict()} ({ratio}layer scale {scale}× the input's)")
    return "\n".join(lines)
