"""Parameter paths, the default weight-decay mask, and regex groups over paths.

A parameter's path is its key path in the parameter pytree joined by ``/``: in Flax
``{"params": {"Dense_0": {"kernel": ...}}}`` the kernel is ``"params/Dense_0/kernel"``.
Regexes are matched with `re.search`, so ``"Dense_0/kernel"`` selects that kernel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import jax

import registry

NO_DECAY = r"(^|/)(bias|scale|b)$|norm"
"""Paths the default mask exempts (case-insensitive): biases, normalization scales and
anything under a normalization layer. Parameters with ``ndim <= 1`` are exempt too."""


def path_name(key_path: Sequence[Any]) -> str:
    """The ``/``-joined name of a `jax.tree_util` key path.

    Examples:
        >>> import jax
        >>> [path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path({"Dense_0": {"kernel": 1, "bias": 2}})[0]]
        ['Dense_0/bias', 'Dense_0/kernel']
    """
    parts = []
    for key in key_path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def leaves_by_path(tree: Any) -> dict[str, Any]:
    """Every leaf of `tree` by its `path_name`, in leaf order.

    Examples:
        >>> leaves_by_path({"Dense_0": {"kernel": 1, "bias": 2}})
        {'Dense_0/bias': 2, 'Dense_0/kernel': 1}
    """
    return {path_name(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def parameter_paths(params: Any) -> list[str]:
    """The path of every leaf of `params`, in leaf order.

    Examples:
        >>> parameter_paths({"w": [1, 2], "b": 3})
        ['b', 'w/0', 'w/1']
    """
    return [path_name(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]


def _map_with_path(fn: Callable[[str, Any], Any], tree: Any) -> Any:
    return jax.tree_util.tree_map_with_path(lambda p, x: fn(path_name(p), x), tree)


def default_decay_mask(params: Any) -> Any:
    """True for parameters to decay: ``ndim > 1`` and a path not matching `NO_DECAY`.

    Biases, normalization scales and offsets (1-D, or 2-D when stacked by ``nn.scan``)
    are not decayed; kernels and embeddings are.

    Examples:
        >>> import jax.numpy as jnp
        >>> params = {"Dense_0": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)},
        ...           "LayerNorm_0": {"scale": jnp.ones(3)}, "stacked": {"bias": jnp.ones((4, 3))}}
        >>> default_decay_mask(params)
        {'Dense_0': {'bias': False, 'kernel': True}, 'LayerNorm_0': {'scale': False}, 'stacked': {'bias': False}}
    """
    no_decay = re.compile(NO_DECAY, re.IGNORECASE)
    return _map_with_path(lambda path, x: x.ndim > 1 and not no_decay.search(path), params)


def compile_patterns(patterns: Sequence[str], argument: str) -> list[re.Pattern]:
    """Compiles regexes, raising `registry.RegistryError` naming `argument` on a bad one.

    Examples:
        >>> compile_patterns(["(unclosed"], "patterns")
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'patterns': invalid regex '(unclosed': missing ), unterminated subpattern at position 0
    """
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise registry.RegistryError(f"invalid regex {pattern!r}: {exc}", argument=argument) from None
    return compiled


def group_index(params: Any, patterns: Sequence[re.Pattern], *, component: str, argument: str) -> Any:
    """For each leaf, the index of the first pattern its path matches, or -1.

    Raises:
        registry.RegistryError: a pattern matches no parameter (naming `component` and
            `argument`, and listing the paths).

    Examples:
        >>> import re
        >>> group_index({"a": 1, "b": 2}, [re.compile("b")], component="freeze", argument="patterns")
        {'a': -1, 'b': 0}
        >>> group_index({"a": 1}, [re.compile("z")], component="freeze", argument="patterns")
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: optimizer 'freeze': argument 'patterns': regex 'z' matches no parameter; paths: a
    """

    def first(path: str, _) -> int:
        return next((i for i, p in enumerate(patterns) if p.search(path)), -1)

    index = _map_with_path(first, params)
    used = set(jax.tree.leaves(index))
    paths = parameter_paths(params)
    for i, pattern in enumerate(patterns):
        if i not in used and not any(pattern.search(path) for path in paths):
            shown = ", ".join(paths[:20]) + (", ..." if len(paths) > 20 else "")
            raise registry.RegistryError(
                f"regex {pattern.pattern!r} matches no parameter; paths: {shown}",
                kind="optimizer",
                name=component,
                argument=argument,
            )
    return index


def decay_mask(mask: str, *, component: str, argument: str = "mask") -> Callable[[Any], Any] | None:
    """The mask a ``mask`` argument names, in the form `optax.add_decayed_weights` takes.

    Args:
        mask: ``"default"`` (`default_decay_mask`), ``"all"`` (decay every parameter), or
            a regex: the parameters whose path it matches are decayed, the others not.
        component: the optimizer's registered name, for error messages.
        argument: the argument's name, for error messages.

    Returns:
        None for ``"all"``, else a function of the parameters returning a tree of bools.
        A regex that matches no parameter raises `registry.RegistryError` when the
        optimizer is initialized.

    Examples:
        >>> import jax.numpy as jnp
        >>> fn = decay_mask("Dense_1", component="adamw")
        >>> fn({"Dense_0": {"kernel": jnp.ones((2, 2))}, "Dense_1": {"kernel": jnp.ones((2, 2))}})
        {'Dense_0': {'kernel': False}, 'Dense_1': {'kernel': True}}
        >>> decay_mask("all", component="adamw") is None
        True
    """
    if mask == "all":
        return None
    if mask == "default":
        return default_decay_mask
    (pattern,) = compile_patterns([mask], argument)

    def regex_mask(params: Any) -> Any:
        index = group_index(params, [pattern], component=component, argument=argument)
        return jax.tree.map(lambda i: i == 0, index)

    return regex_mask


def checked_at_init(opt: Any, mask: Callable[[Any], Any] | None) -> Any:
    """`opt` whose ``init`` first evaluates `mask`, so a regex that matches nothing raises
    even while the decay it selects for is off (a weight decay of 0).

    Examples:
        >>> import jax.numpy as jnp, optax
        >>> opt = checked_at_init(optax.sgd(0.1), decay_mask("encoder", component="sgdw"))
        >>> opt.init({"decoder": jnp.zeros((2, 2))})
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: optimizer 'sgdw': argument 'mask': regex 'encoder' matches no parameter; paths: decoder
    """
    if mask is None:
        return opt

    def init(params):
        mask(params)
        return opt.init(params)

    return opt._replace(init=init)
