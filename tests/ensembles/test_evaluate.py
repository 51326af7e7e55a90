"""Evaluation strategies: vmap, lax.map and the loop give the same logits; auto; different architectures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401
from tricks import ensembles

MODELS = {
    "mlp": ("mlp(widths=(16,), num_classes=4)", (6, 6, 1)),
    "cnn": ("cnn(channels=(3, 5), dense=(8,), num_classes=4)", (8, 8, 1)),
    "cnn_bn": ("cnn(channels=(3,), dense=(), batch_norm=True, num_classes=4)", (8, 8, 1)),
}


def make_members(spec, shape, count=3, architecture=None):
    model = registry.build("model", spec)
    example = jnp.zeros((1, *shape))
    return [
        ensembles.Member(
            f"m{i}", model, model.init(jax.random.PRNGKey(i), example, train=False), architecture or spec
        )
        for i in range(count)
    ]


def make_batches(shape, sizes=(5, 5, 3)):
    """An eval pass: batches of 5, the last padded (2 rows masked)."""
    key = jax.random.PRNGKey(42)
    batches = []
    for i, valid in enumerate(sizes):
        images = jax.random.normal(jax.random.fold_in(key, i), (5, *shape))
        batches.append(
            {"image": images, "label": jnp.arange(5, dtype=jnp.int32) % 4, "mask": jnp.arange(5) < valid}
        )
    return batches


@pytest.mark.parametrize("name", sorted(MODELS))
def test_vmap_map_and_loop_agree(name):
    spec, shape = MODELS[name]
    members, batches = make_members(spec, shape), make_batches(shape)
    outs = {s: ensembles.member_logits(members, batches, s) for s in ("vmap", "map", "loop")}
    reference = np.stack(
        [np.concatenate([np.asarray(m.logits(b))[np.asarray(b["mask"])] for b in batches]) for m in members]
    )
    assert reference.shape == (3, 13, 4)
    for strategy, out in outs.items():
        assert out.strategy == strategy
        np.testing.assert_allclose(out.logits, reference, rtol=1e-5, atol=1e-5, err_msg=strategy)
        np.testing.assert_array_equal(out.labels, np.concatenate([np.arange(5) % 4] * 2 + [np.arange(3)]))


def test_auto_measures_the_strategies_and_keeps_the_fastest():
    spec, shape = MODELS["mlp"]
    members, batches = make_members(spec, shape), make_batches(shape)
    out = ensembles.member_logits(members, batches, "auto")
    assert set(out.timings) == {"vmap", "map", "loop"}
    assert all(t > 0 for t in out.timings.values())
    assert out.strategy == min(out.timings, key=out.timings.get)
    np.testing.assert_allclose(
        out.logits, ensembles.member_logits(members, batches, "loop").logits, atol=1e-5
    )


def test_members_of_different_architectures_fall_back_to_the_loop():
    small = make_members("mlp(widths=(16,), num_classes=4)", (6, 6, 1), count=2)
    big = make_members("mlp(widths=(8, 8), num_classes=4)", (6, 6, 1), count=1)
    members = [*small, ensembles.Member("big", big[0].model, big[0].variables, "mlp-big")]
    batches = make_batches((6, 6, 1))
    out = ensembles.member_logits(members, batches, "auto")
    assert out.strategy == "loop" and out.timings == {}
    np.testing.assert_allclose(
        out.logits[2],
        np.concatenate([np.asarray(members[2].logits(b))[np.asarray(b["mask"])] for b in batches]),
        rtol=1e-6,
    )


@pytest.mark.parametrize("strategy", ["vmap", "map"])
def test_stacking_members_whose_trees_differ_names_the_first_differing_path(strategy):
    small = make_members("mlp(widths=(16,), num_classes=4)", (6, 6, 1), count=1)[0]
    wide = make_members("mlp(widths=(12,), num_classes=4)", (6, 6, 1), count=1)[0]
    wide = ensembles.Member("wide", wide.model, wide.variables, wide.architecture)
    with pytest.raises(
        ensembles.MemberMismatchError,
        match=r"differ at params/Dense_0/bias: shape \(16,\) float32 in m0, \(12,\) float32 in wide",
    ):
        ensembles.member_logits([small, wide], make_batches((6, 6, 1)), strategy)
    deep = make_members("mlp(widths=(16, 16), num_classes=4)", (6, 6, 1), count=1)[0]
    with pytest.raises(ensembles.MemberMismatchError, match=r"params/Dense_1/bias: in m0, absent from"):
        ensembles.member_logits([deep, small], make_batches((6, 6, 1)), strategy)


def test_same_trees_but_different_architectures_are_not_stacked():
    a = make_members("mlp(widths=(16,), num_classes=4)", (6, 6, 1), count=1)[0]
    b = make_members("mlp(widths=(16,), num_classes=4, activation='tanh')", (6, 6, 1), count=1)[0]
    with pytest.raises(ensembles.MemberMismatchError, match="different architectures"):
        ensembles.member_logits([a, b], make_batches((6, 6, 1)), "vmap")
    out = ensembles.member_logits([a, b], make_batches((6, 6, 1)), "auto")
    assert out.strategy == "loop"
    np.testing.assert_allclose(
        out.logits[1], ensembles.member_logits([b], make_batches((6, 6, 1)), "loop").logits[0]
    )


def test_bad_input():
    members = make_members(*MODELS["mlp"], count=2)
    with pytest.raises(
        ensembles.EnsembleError, match="unknown strategy 'pmap'; valid: auto, vmap, map, loop"
    ):
        ensembles.member_logits(members, make_batches((6, 6, 1)), "pmap")
    with pytest.raises(ensembles.EnsembleError, match="no batches"):
        ensembles.member_logits(members, [], "loop")
    with pytest.raises(ensembles.EnsembleError, match="at least one member"):
        ensembles.member_logits([], make_batches((6, 6, 1)), "loop")
