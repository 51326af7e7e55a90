"""Every combination rule against a NumPy reference; the fused weights' guarantees."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import registry
import tricks  # noqa: F401  (registers the rules)
from tricks import ensembles


def nll(log_probs, labels):
    """The mean negative log-likelihood in float64 (the fit's own precision)."""
    return float(-np.mean(np.asarray(log_probs, np.float64)[np.arange(len(labels)), labels]))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def member_logits(seed, members=4, examples=300, classes=5, strengths=(0.5, 1.0, 2.0, 3.0)):
    """Synthetic member logits of different quality, and labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, examples)
    onehot = np.eye(classes)[labels]
    logits = np.stack([rng.normal(size=(examples, classes)) * 1.5 + s * onehot for s in strengths[:members]])
    return logits, labels


def mixture_nll(weights, logits, labels):
    probs = np.einsum("m,mnc->nc", weights, softmax(logits))
    return -np.mean(np.log(probs[np.arange(len(labels)), labels]))


def check_mean_prob():
    logits, _ = member_logits(0)
    out = registry.build("ensemble", "mean_prob").combine(logits)
    expected = softmax(logits).mean(0)
    np.testing.assert_allclose(np.exp(out.log_probs), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(out.predicted, expected.argmax(-1))


def check_mean_logit():
    logits, _ = member_logits(1)
    out = registry.build("ensemble", "mean_logit").combine(logits)
    expected = softmax(logits.mean(0))
    np.testing.assert_allclose(np.exp(out.log_probs), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(out.predicted, expected.argmax(-1))


def check_vote():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4, 500, 3))  # 4 members, 3 classes: many 2-2 ties
    out = registry.build("ensemble", "vote").combine(logits)
    mean_prob = softmax(logits).mean(0)
    expected_pred, shares = [], np.zeros((500, 3))
    for n in range(500):
        votes = [int(np.argmax(logits[m, n])) for m in range(4)]
        counts = np.bincount(votes, minlength=3)
        shares[n] = counts / 4
        tied = np.flatnonzero(counts == counts.max())
        expected_pred.append(tied[np.argmax(mean_prob[n, tied])])
    assert any(np.sort(s)[-1] == np.sort(s)[-2] for s in shares), "the case must contain ties"
    np.testing.assert_array_equal(out.predicted, expected_pred)
    np.testing.assert_allclose(np.exp(out.log_probs), shares)


def check_fused():
    jax.config.update("jax_enable_x64", True)  # restored by the test's x64 fixture
    logits, labels = member_logits(3)
    val, test = slice(0, 200), slice(200, None)
    rule = registry.build("ensemble", "fused").fit(logits[:, val], labels[val])
    # Reference optimum: SLSQP on the simplex, in float64.
    m = logits.shape[0]
    reference = scipy.optimize.minimize(
        mixture_nll,
        np.full(m, 1 / m),
        args=(logits[:, val], labels[val]),
        method="SLSQP",
        bounds=[(0, 1)] * m,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        options={"ftol": 1e-12},
    )
    weights = np.array(rule.weights)
    assert mixture_nll(weights, logits[:, val], labels[val]) <= reference.fun + 1e-7
    np.testing.assert_allclose(weights, reference.x, atol=2e-3)
    out = rule.combine(logits[:, test])
    expected = np.einsum("m,mnc->nc", weights, softmax(logits[:, test]))
    np.testing.assert_allclose(np.exp(out.log_probs), expected, rtol=1e-10, atol=1e-12)


class Norm(nn.Module):
    """Batch norm on the inputs, then a dense head."""

    @nn.compact
    def __call__(self, x, train=False):
        x = nn.BatchNorm(use_running_average=not train, momentum=0.8)(x)
        return nn.Dense(3)(x)


def check_swa():
    rng = np.random.default_rng(4)
    x0 = jnp.ones((1, 2))
    members = [Norm().init(jax.random.PRNGKey(i), x0) for i in range(3)]
    members = [jax.tree.map(lambda v, k=i: v + k, m) for i, m in enumerate(members)]  # distinct stats too
    averaged = ensembles.average_variables(members)
    for path in (("params", "Dense_0", "kernel"), ("batch_stats", "BatchNorm_0", "mean")):
        leaves = [np.asarray(m[path[0]][path[1]][path[2]]) for m in members]
        np.testing.assert_allclose(averaged[path[0]][path[1]][path[2]], np.mean(leaves, 0), rtol=1e-6)
    batches = [rng.normal(loc=i, scale=1 + i, size=(16, 2)).astype(np.float32) for i in range(4)]
    fresh = ensembles.recompute_batch_stats(
        Norm(), averaged, [{"image": jnp.asarray(b), "label": jnp.zeros(16, jnp.int32)} for b in batches]
    )
    stats = fresh["batch_stats"]["BatchNorm_0"]
    # Reference: the mean over batches of each batch's mean and (biased, as Flax) variance.
    np.testing.assert_allclose(stats["mean"], np.mean([b.mean(0) for b in batches], 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats["var"], np.mean([b.var(0) for b in batches], 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(
        fresh["params"]["Dense_0"]["kernel"], averaged["params"]["Dense_0"]["kernel"]
    )
    assert registry.build("ensemble", "swa(bn_batches=3)").bn_batches == 3


CHECKS = {
    "mean_prob": check_mean_prob,
    "mean_logit": check_mean_logit,
    "vote": check_vote,
    "fused": check_fused,
    "swa": check_swa,
}


@pytest.mark.parametrize("name", registry.names("ensemble"))
def test_rule_matches_numpy_reference(name, x64):
    assert name in CHECKS, f"ensemble rule {name!r} has no NumPy reference check in CHECKS: add one"
    CHECKS[name]()


@pytest.mark.parametrize("seed", range(6))
def test_fused_weights_are_a_distribution_no_worse_than_equal_or_best_member(seed):
    strengths = [
        (0.5, 1.0, 2.0, 3.0),
        (3.0, 0.1, 0.1, 0.1),
        (1.0, 1.0, 1.0, 1.0),
        (0.0, 0.0, 0.0, 4.0),
        (2.0, 2.5, -1.0, 0.5),
        (5.0, 4.0, 0.0, 0.0),
    ][seed]
    logits, labels = member_logits(10 + seed, strengths=strengths)
    rule = ensembles.fused().fit(logits, labels)
    weights = np.array(rule.weights)
    assert np.all(weights >= 0) and weights.sum() == pytest.approx(1.0, abs=1e-9)
    fused_nll = nll(rule.combine(logits).log_probs, labels)
    equal_nll = nll(ensembles.mean_prob().combine(logits).log_probs, labels)
    best_single = min(nll(ensembles.log_softmax(member), labels) for member in logits)
    assert fused_nll <= equal_nll + 1e-9
    assert fused_nll <= best_single + 1e-9
    assert ensembles.fused().fit(logits, labels).weights == rule.weights  # deterministic


def test_fused_gives_a_useless_member_no_weight():
    logits, labels = member_logits(20, strengths=(2.0, 2.0, -3.0))
    weights = ensembles.fused().fit(logits, labels).weights
    assert weights[2] < 0.01 and weights[0] > 0.3 and weights[1] > 0.3


def test_fused_needs_validation_outputs_and_a_fit():
    logits, labels = member_logits(0)
    with pytest.raises(ensembles.EnsembleError, match="validation split, which is empty"):
        ensembles.fused().fit(logits[:, :0], labels[:0])
    with pytest.raises(ensembles.EnsembleError, match="fit the weights"):
        ensembles.fused().combine(logits)
    with pytest.raises(ensembles.EnsembleError, match="weights for 4 members, got 2"):
        ensembles.fused().fit(logits, labels).combine(logits[:2])


@pytest.mark.parametrize(
    "spec, argument",
    [
        ("fused(max_iterations=0)", "max_iterations"),
        ("fused(tolerance=-1.0)", "tolerance"),
        ("swa(bn_batches=-1)", "bn_batches"),
    ],
)
def test_bad_arguments(spec, argument):
    with pytest.raises(registry.RegistryError, match=argument):
        registry.build("ensemble", spec)


@pytest.mark.parametrize("name", ["mean_prob", "mean_logit", "vote"])
def test_output_rules_refuse_logits_of_the_wrong_shape(name):
    with pytest.raises(ensembles.EnsembleError, match=r"shape \(members, examples, classes\)"):
        registry.build("ensemble", name).combine(np.zeros((3, 4)))
