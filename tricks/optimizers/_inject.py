"""Hyperparameters that live in the optimizer state: the one mechanism every optimizer uses.

Every factory in `tricks.optimizers` builds its chain through `inject`: the varying
hyperparameters (learning rate, momentum, b1, weight decay), each a number or a schedule,
are stored as arrays in an `InjectState`, so they can be read (`hyperparams`), logged each
step, changed by hand (`set_hyperparams`) and restored exactly from a checkpoint.

Which step a stored value belongs to: right after ``init`` the state holds the values for
step 0; after the update that used step ``t`` (the state's ``count`` is then ``t + 1``) it
holds the values used by that update, the ones of step ``t``. A training loop that logs
``hyperparams(state)`` after each update therefore logs the rate that produced it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from tricks.optimizers._masks import path_name


class InjectState(NamedTuple):
    """State of an injected optimizer.

    Attributes:
        count: number of updates done so far (int32).
        hyperparams: name -> scalar array, the values used by the most recent update
            (for a fresh state: the values for step 0).
        inner_state: the state of the wrapped chain.
    """

    count: jax.Array
    hyperparams: dict[str, jax.Array]
    inner_state: optax.OptState


def _is_inject(node: Any) -> bool:
    return isinstance(node, InjectState)


def _donatable(state: Any) -> Any:
    """`state` with strong types and distinct buffers, so a jitted update can donate it.

    An update drops JAX's weak types (which would force a retrace), and a buffer that
    appears twice in a state (`optax.scale_by_lbfgs` puts one tree of zeros in two fields)
    cannot be donated.
    """
    seen: set[int] = set()

    def fresh(x):
        if getattr(x, "weak_type", False):
            x = jnp.asarray(x, dtype=x.dtype)
        if id(x) in seen:
            x = jnp.copy(x)
        seen.add(id(x))
        return x

    return jax.tree.map(fresh, state)


def scalar_dtype(params: optax.Params) -> jnp.dtype:
    """The dtype of stored scalars: float32, or float64 when a parameter is float64.

    bfloat16 and float16 parameters keep float32 scalars (rates, running products).

    Examples:
        >>> import jax.numpy as jnp
        >>> scalar_dtype({"w": jnp.zeros(2, jnp.bfloat16)})
        dtype('float32')
    """
    floats = [x.dtype for x in jax.tree.leaves(params) if jnp.issubdtype(x.dtype, jnp.floating)]
    return functools.reduce(jnp.promote_types, floats, jnp.dtype(jnp.float32))


def inject(
    build: Callable[..., optax.GradientTransformation], **hyperparams: float | Callable[[Any], Any]
) -> optax.GradientTransformationExtraArgs:
    """Wraps ``build(**values)`` so that `hyperparams` are stored in and read from the state.

    ``build`` is called with scalar arrays in place of the hyperparameters, at init and at
    each update (it must build the same state structure for any values). A callable
    hyperparameter is a schedule, evaluated at the state's ``count``; a number is stored
    once and read back from the state at each update, so `set_hyperparams` can change it.

    Hyperparameters are stored as float32 (float64 when a parameter is float64). Updates are
    returned in the dtype of the incoming gradients and the inner state keeps the dtypes
    it had at init (made strongly typed, with no buffer twice), so bfloat16 parameters
    stay bfloat16, and a jitted update can donate its state and does not retrace.

    Args:
        build: a function of the hyperparameters returning the transformation.
        **hyperparams: name -> number or schedule (a function of the step).

    Returns:
        A transformation whose state is an `InjectState`; extra arguments of ``update``
        (``value``, ``grad``, ``value_fn`` for a line search) are passed to the chain.

    Examples:
        >>> import jax.numpy as jnp, optax
        >>> opt = inject(lambda learning_rate: optax.sgd(learning_rate), learning_rate=lambda t: 0.1 / (1 + t))
        >>> state = opt.init(jnp.zeros(2))
        >>> updates, state = opt.update(jnp.ones(2), state)
        >>> updates, state = opt.update(jnp.ones(2), state)
        >>> updates, hyperparams(state)["learning_rate"]
        (Array([-0.05, -0.05], dtype=float32), Array(0.05, dtype=float32))
    """
    schedules = {k: v for k, v in hyperparams.items() if callable(v)}
    constants = {k: v for k, v in hyperparams.items() if not callable(v)}

    def init(params):
        dtype = scalar_dtype(params)
        count = jnp.zeros([], jnp.int32)
        values = {k: jnp.asarray(v, dtype) for k, v in constants.items()}
        values.update({k: jnp.asarray(fn(count), dtype) for k, fn in schedules.items()})
        values = {k: values[k] for k in hyperparams}
        inner_state = _donatable(build(**values).init(params))
        return InjectState(count=count, hyperparams=values, inner_state=inner_state)

    def update(updates, state, params=None, **extra_args):
        values = dict(state.hyperparams)
        values.update(
            {k: jnp.asarray(fn(state.count), state.hyperparams[k].dtype) for k, fn in schedules.items()}
        )
        inner = optax.with_extra_args_support(build(**values))
        new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        return optax.tree.cast_like(new_updates, updates), InjectState(
            count=optax.safe_increment(state.count),
            hyperparams=values,
            inner_state=optax.tree.cast_like(inner_state, state.inner_state),
        )

    return optax.GradientTransformationExtraArgs(init, update)


def _inject_states(tree: Any, prefix: tuple = ()) -> list[tuple[tuple, InjectState]]:
    """Every `InjectState` in `tree` with its key path, outer before inner."""
    found = []
    for path, node in jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_inject)[0]:
        if _is_inject(node):
            found.append((prefix + path, node))
            inner_path = prefix + path + (jax.tree_util.GetAttrKey("inner_state"),)
            found.extend(_inject_states(node.inner_state, inner_path))
    return found


def hyperparams(opt_state: optax.OptState) -> dict[str, jax.Array]:
    """The current hyperparameters, found anywhere in a (wrapped, chained, masked) state.

    A name found once is returned as is (``"learning_rate"``); a name held by several
    injected transformations (``weight_decay`` in both `adamw` and a `weight_decay`
    wrapper) is returned once per holder, prefixed by the holder's path in the state
    (``"0/weight_decay"``, ``"1/inner_state/0/weight_decay"``).

    The values are those used by the most recent update (for a fresh state: step 0's);
    see the module docstring.

    Args:
        opt_state: any optimizer state built by `tricks.optimizers`.

    Returns:
        name -> scalar array; empty when the state holds no injected hyperparameters.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "clip_by_global_norm(adam(learning_rate=1e-3), max_norm=1.0)")
        >>> sorted(hyperparams(opt.init(jnp.zeros(3))).items())
        [('b1', Array(0.9, dtype=float32)), ('learning_rate', Array(0.001, dtype=float32))]
    """
    found = _inject_states(opt_state)
    counts: dict[str, int] = {}
    for _, state in found:
        for name in state.hyperparams:
            counts[name] = counts.get(name, 0) + 1
    out = {}
    for path, state in found:
        for name, value in state.hyperparams.items():
            key = name if counts[name] == 1 else f"{path_name(path)}/{name}".lstrip("/")
            out[key] = value
    return out


def set_hyperparams(opt_state: optax.OptState, **values: Any) -> optax.OptState:
    """A copy of `opt_state` with the named hyperparameters replaced wherever they are held.

    A number given at build time is read back from the state at each update, so the new
    value is used from the next update on (an LR finder or a manual plateau rule can
    drive the rate this way). A scheduled hyperparameter is recomputed from the step at
    the next update, so setting it has no lasting effect.

    Args:
        opt_state: any optimizer state built by `tricks.optimizers`.
        **values: name -> new value (cast to the stored dtype).

    Returns:
        The new state.

    Raises:
        KeyError: a name that no injected transformation in the state holds.

    Examples:
        >>> import jax.numpy as jnp, registry, tricks
        >>> opt = registry.build("optimizer", "sgd(learning_rate=0.1)")
        >>> state = set_hyperparams(opt.init(jnp.zeros(2)), learning_rate=0.5)
        >>> opt.update(jnp.ones(2), state)[0]
        Array([-0.5, -0.5], dtype=float32)
    """
    seen: set[str] = set()

    def replace(node):
        if not _is_inject(node):
            return node
        new = {}
        for name, old in node.hyperparams.items():
            new[name] = jnp.asarray(values[name], old.dtype) if name in values else old
            if name in values:
                seen.add(name)
        inner = jax.tree.map(replace, node.inner_state, is_leaf=_is_inject)
        return node._replace(hyperparams=new, inner_state=inner)

    new_state = jax.tree.map(replace, opt_state, is_leaf=_is_inject)
    missing = sorted(set(values) - seen)
    if missing:
        held = sorted({n for _, s in _inject_states(opt_state) for n in s.hyperparams})
        raise KeyError(f"no injected hyperparameter named {', '.join(missing)}; the state holds {held}")
    return new_state


def find_state(opt_state: optax.OptState, state_type: type) -> Any:
    """The one sub-state of type `state_type` inside `opt_state` (wrapped, chained or masked).

    Args:
        opt_state: an optimizer state.
        state_type: a state class, e.g. `ScaleBySwatsState` or `optax.ScaleByAdamState`.

    Returns:
        The sub-state.

    Raises:
        ValueError: there is no such sub-state, or more than one.

    Examples:
        >>> import jax.numpy as jnp, optax, registry, tricks
        >>> state = registry.build("optimizer", "adam").init(jnp.zeros(2))
        >>> find_state(state, optax.ScaleByAdamState).count
        Array(0, dtype=int32)
    """

    def is_target(node):
        return isinstance(node, state_type)

    found = [node for node in jax.tree.leaves(opt_state, is_leaf=is_target) if is_target(node)]
    if len(found) != 1:
        raise ValueError(f"expected one {state_type.__name__} in the optimizer state, found {len(found)}")
    return found[0]
