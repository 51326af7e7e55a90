"""The members' logits over a split: all members in one jitted call per batch.

Members of one architecture are stacked (each parameter gets a leading member axis)
and evaluated together by ``jax.vmap`` or ``jax.lax.map`` inside one jitted function;
members of different architectures by a Python loop of jitted calls. Which of
``vmap``, ``map`` and ``loop`` is fastest depends on the model and the backend. On this
project's 2-core CPU (``tricks bench ensemble``: M=5, batch 256, ms per batch, two runs
on a shared machine):

| model | vmap | lax.map | loop |
|---|---|---|---|
| CNN 32-64 on 28x28 | 1744-2127 | 359-490 | 376-568 |
| MLP 256-256 | 23-31 | 10-19 | 9-19 |
| cnn1d (MNIST-1D) | 8-11 | 10-13 | 7-8 |

vmap over convolution weights lowers to a grouped convolution (4-5x slower than the
loop here); ``lax.map`` in one jit matches the loop or beats it slightly on the CNN,
and the loop wins on the small 1-D CNN. On a GPU, vmap's one batched kernel can win.
So the default strategy ``"auto"`` measures the three on the first batch (once per
model, backend, shapes and member count in a process) and keeps the fastest: never
slower than the loop, up to timing noise.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tricks.ensembles._errors import EnsembleError, MemberMismatchError

STRATEGIES = ("auto", "vmap", "map", "loop")
"""How members are evaluated: measured choice, ``jax.vmap``, ``jax.lax.map``, a Python loop."""


@dataclasses.dataclass(frozen=True)
class Member:
    """One model of an ensemble: a network and its variables, and where they came from.

    Attributes:
        name: how tables name it (``<run>@<step>`` for checkpoints).
        model: a Flax module, applied as ``model.apply(variables, images, train=False)``.
        variables: ``{"params": ..., "batch_stats"?: ...}``.
        architecture: members with equal strings (and equal parameter shapes) share
            `model`, so they may be stacked; a run's model and augment specs.
        augment: the run's augmentation, applied in eval mode before the model (it
            normalizes, center-crops, ...); None for none.
        num_classes: the number of classes (the augment sees one-hot labels).
        workdir: the run it came from, if any.
        step: the checkpoint's step, if any.

    Examples:
        >>> import registry, tricks
        >>> model = registry.build("model", "mlp(num_classes=3, widths=(8,))")
        >>> variables = model.init(jax.random.key(0), jnp.ones((1, 4)))
        >>> member = Member("mlp", model, variables)
        >>> member.logits({"image": jnp.ones((2, 4)), "label": jnp.zeros(2, jnp.int32)}).shape
        (2, 3)
    """

    name: str
    model: Any
    variables: Mapping[str, Any]
    architecture: str = ""
    augment: Callable | None = None
    num_classes: int | None = None
    workdir: Any = None
    step: int | None = None

    def logits(self, batch: Mapping[str, jax.Array], variables: Any = None) -> jax.Array:
        """Float32 logits (B, C) of `batch["image"]` (pure: jit or vmap it over `variables`)."""
        images = batch["image"]
        if self.augment is not None:
            targets = jax.nn.one_hot(batch["label"], self.num_classes, dtype=jnp.float32)
            images = self.augment({"image": images, "label": targets}, jax.random.PRNGKey(0), False)["image"]
        variables = self.variables if variables is None else variables
        return self.model.apply(variables, images, train=False).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class Outputs:
    """The members' logits on every example of a split, in order, padding dropped.

    Attributes:
        logits: float32 (M, N, C).
        labels: int (N,).
        strategy: how they were computed: ``vmap``, ``map`` or ``loop``.
        timings: seconds per batch of each strategy measured by ``auto`` (else empty).

    Examples:
        >>> out = Outputs(np.zeros((2, 3, 4)), np.zeros(3, int), "loop", {})
        >>> out.logits.shape[0]   # members
        2
    """

    logits: np.ndarray
    labels: np.ndarray
    strategy: str
    timings: dict[str, float]


def first_difference(trees: Sequence[Any], names: Sequence[str]) -> str | None:
    """Where the first tree that differs from ``trees[0]`` does (path, shape or dtype), or None.

    Examples:
        >>> a = {"params": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}}
        >>> b = {"params": {"w": jnp.ones((2, 4)), "b": jnp.ones(3)}}
        >>> first_difference([a, a, b], ["x", "y", "z"])
        'params/w: shape (2, 3) float32 in x, (2, 4) float32 in z'
        >>> print(first_difference([a, a], ["x", "y"]))
        None
    """
    reference = _leaves(trees[0])
    for tree, name in zip(trees[1:], names[1:], strict=True):
        other = _leaves(tree)
        for path in [*reference, *(p for p in other if p not in reference)]:
            if path not in other:
                return f"{path}: in {names[0]}, absent from {name}"
            if path not in reference:
                return f"{path}: in {name}, absent from {names[0]}"
            a, b = reference[path], other[path]
            if a != b:
                return f"{path}: shape {a[0]} {a[1]} in {names[0]}, {b[0]} {b[1]} in {name}"
    return None


def _leaves(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {
        jax.tree_util.keystr(path, simple=True, separator="/"): (
            tuple(np.shape(leaf)),
            str(jnp.result_type(leaf)),
        )
        for path, leaf in flat
    }


def stack(trees: Sequence[Any]) -> Any:
    """One tree whose leaves stack the leaves of `trees` on a new leading axis.

    Examples:
        >>> stack([{"w": jnp.zeros(2)}, {"w": jnp.ones(2)}])["w"].tolist()
        [[0.0, 0.0], [1.0, 1.0]]
    """
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def stacking_problem(members: Sequence[Member]) -> str | None:
    """Why `members` cannot be evaluated stacked (different architectures), or None.

    Examples:
        >>> import flax.linen as nn
        >>> small, big = nn.Dense(2), nn.Dense(3)
        >>> x = jnp.ones((1, 4))
        >>> a = Member("a", small, small.init(jax.random.key(0), x), architecture="dense2")
        >>> b = Member("b", big, big.init(jax.random.key(0), x), architecture="dense3")
        >>> stacking_problem([a, b])
        'the members differ at params/bias: shape (2,) float32 in a, (3,) float32 in b'
    """
    names = [m.name for m in members]
    difference = first_difference([m.variables for m in members], names)
    if difference is not None:
        return f"the members differ at {difference}"
    for member in members[1:]:
        if member.architecture != members[0].architecture:
            return (
                "the members have different architectures: "
                f"{members[0].architecture!r} in {members[0].name}, "
                f"{member.architecture!r} in {member.name}"
            )
    return None


def _evaluators(members: Sequence[Member]) -> dict[str, Callable]:
    """``strategy -> fn(batch)`` giving (M, B, C) logits, for the strategies `members` allow."""
    first = members[0]
    apply = first.logits

    def loop_of(jitted: Sequence[Callable]) -> Callable:
        return lambda batch: [fn(member.variables, batch) for fn, member in zip(jitted, members, strict=True)]

    if stacking_problem(members) is not None:
        return {"loop": loop_of([jax.jit(functools.partial(_apply_of, m)) for m in members])}
    stacked = stack([m.variables for m in members])
    vmapped = jax.jit(lambda v, batch: jax.vmap(lambda one: apply(batch, one))(v))
    mapped = jax.jit(lambda v, batch: jax.lax.map(lambda one: apply(batch, one), v))
    shared = jax.jit(functools.partial(_apply_of, first))
    return {
        "vmap": lambda batch: vmapped(stacked, batch),
        "map": lambda batch: mapped(stacked, batch),
        "loop": loop_of([shared] * len(members)),
    }


def _apply_of(member: Member, variables: Any, batch: Mapping[str, jax.Array]) -> jax.Array:
    return member.logits(batch, variables)


_MEASURED: dict[tuple, dict[str, float]] = {}
"""Timings of `measure_strategies` by (backend, architecture, shapes): measured once per process."""


def measure_strategies(
    members: Sequence[Member], batch: Mapping[str, jax.Array], repeats: int = 3
) -> dict[str, float]:
    """Seconds per batch of each strategy that `members` allow (best of `repeats`, after a warm-up call).

    Examples:
        >>> import registry, tricks
        >>> model, x = registry.build("model", "mlp(num_classes=3, widths=(8,))"), jnp.ones((8, 4))
        >>> members = [Member(f"m{i}", model, model.init(jax.random.key(i), x)) for i in range(2)]
        >>> sorted(measure_strategies(members, {"image": x, "label": jnp.zeros(8, jnp.int32)}, repeats=1))
        ['loop', 'map', 'vmap']
    """
    return _measure(_evaluators(members), batch, repeats)


def _measure(
    evaluators: Mapping[str, Callable], batch: Mapping[str, jax.Array], repeats: int
) -> dict[str, float]:
    timings = {}
    for name, fn in evaluators.items():
        jax.block_until_ready(fn(batch))
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(batch))
            best = min(best, time.perf_counter() - start)
        timings[name] = best
    return timings


def member_logits(
    members: Sequence[Member], batches: Iterable[Mapping[str, jax.Array]], strategy: str = "auto"
) -> Outputs:
    """Every member's logits on `batches`, all members in one jitted call per batch.

    Args:
        members: the models; stacked when they share an architecture.
        batches: ``{"image", "label", "mask"?}`` dicts (an eval pass: padding rows have
            ``mask`` False and are dropped).
        strategy: ``"vmap"`` or ``"map"`` (stacked members, one jitted call per batch),
            ``"loop"`` (one jitted call per member and batch), or ``"auto"``: the fastest
            of the three measured on the first batch (`measure_strategies`), and the
            loop for members of different architectures.

    Raises:
        MemberMismatchError: vmap or map asked of members whose parameter trees differ
            (the first differing path is named) or whose architectures differ.
        EnsembleError: no members, no batches, or an unknown strategy.

    Examples:
        >>> import registry, tricks
        >>> model, x = registry.build("model", "mlp(num_classes=3, widths=(8,))"), jnp.ones((4, 5))
        >>> members = [Member(f"m{i}", model, model.init(jax.random.key(i), x)) for i in range(2)]
        >>> batch = {"image": x, "label": jnp.zeros(4, jnp.int32), "mask": jnp.array([True] * 3 + [False])}
        >>> out = member_logits(members, [batch], strategy="map")
        >>> out.logits.shape, out.labels.shape, out.strategy
        ((2, 3, 3), (3,), 'map')
    """
    if strategy not in STRATEGIES:
        raise EnsembleError(f"unknown strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    if not members:
        raise EnsembleError("an ensemble needs at least one member")
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        raise EnsembleError("member_logits got no batches: the split is empty")
    evaluators = _evaluators(members)
    timings: dict[str, float] = {}
    if strategy in ("vmap", "map") and strategy not in evaluators:
        raise MemberMismatchError(
            f"strategy {strategy!r} evaluates stacked members, but {stacking_problem(members)}; "
            "use strategy 'loop' (or 'auto', which falls back to it)"
        )
    if strategy == "auto":
        if len(evaluators) == 1:
            strategy = "loop"
        else:
            key = (
                jax.default_backend(),
                members[0].architecture,
                len(members),
                _shapes(members[0].variables),
                _shapes(dict(first)),
            )
            if key not in _MEASURED:
                _MEASURED[key] = _measure(evaluators, first, repeats=3)
            timings = dict(_MEASURED[key])
            strategy = min(timings, key=timings.get)
    evaluate = evaluators[strategy]
    chunks, labels, masks = [], [], []
    for batch in (first, *iterator):
        out = evaluate(batch)
        chunks.append(jnp.stack(out) if isinstance(out, list) else out)
        labels.append(batch["label"])
        masks.append(batch.get("mask", jnp.ones(np.shape(batch["label"]), bool)))
    chunks, labels, masks = jax.device_get((chunks, labels, masks))
    keep = np.concatenate(masks).astype(bool)
    return Outputs(
        logits=np.concatenate(chunks, axis=1)[:, keep],
        labels=np.concatenate(labels)[keep],
        strategy=strategy,
        timings=timings,
    )


def _shapes(tree: Any) -> tuple:
    return tuple(sorted(_leaves(tree).items()))
