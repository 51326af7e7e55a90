"""The range test on a loss function: every registered optimizer, copies only, the three stops."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
from tricks import lr_finder

EXAMPLES = {
    "accumulate": "accumulate(sgd(learning_rate=0.1), every_k=2)",
    "adabound": "adabound()",
    "adadelta": "adadelta()",
    "adagrad": "adagrad(learning_rate=0.1)",
    "adam": "adam()",
    "adamw": "adamw(weight_decay=1e-4)",
    "amsbound": "amsbound()",
    "amsgrad": "amsgrad()",
    "clip_by_global_norm": "clip_by_global_norm(adam(), max_norm=1.0)",
    "clip_by_value": "clip_by_value(sgd(learning_rate=0.1), max_delta=1.0)",
    "freeze": "freeze(adam(), patterns=['frozen'])",
    "group_lr": "group_lr(adam(), multipliers={'w': 0.5})",
    "lamb": "lamb()",
    "lars": "lars(learning_rate=0.1)",
    "lbfgs": "lbfgs()",  # the zoom line search: the range test hands over the objective
    "lookahead": "lookahead(adam(), sync_period=3, slow_step_size=0.5)",
    "momentum": "momentum(learning_rate=0.1, momentum=0.9)",
    "nadam": "nadam()",
    "nesterov": "nesterov(learning_rate=0.1, momentum=0.9)",
    "on_plateau": "on_plateau(sgd(learning_rate=0.1), reduce_on_plateau(patience=0))",
    "rmsprop": "rmsprop(learning_rate=0.01)",
    "sgd": "sgd(learning_rate=0.1)",
    "sgdw": "sgdw(learning_rate=0.1, weight_decay=1e-4)",
    "skip_nonfinite": "skip_nonfinite(adam())",
    "swats": "swats()",
    "weight_decay": "weight_decay(sgd(learning_rate=0.1), weight_decay=1e-4)",
    "lion": "lion()",
    "adabelief": "adabelief()",
    "yogi": "yogi()",
    "adan": "adan()",
    "prodigy": "prodigy()",
    "adopt": "adopt()",
    "sam": "sam(sgd(learning_rate=0.1), rho=0.05)",
    "radam": "radam()",
    "adamax": "adamax()",
    "adafactor": "adafactor()",
    "muon": "muon()",
    "schedule_free_sgd": "schedule_free_sgd(learning_rate=0.1)",
    "schedule_free_adamw": "schedule_free_adamw()",
}
"""One spec per registered optimizer; a newly registered one must be added here."""

X = jax.random.normal(jax.random.key(0), (64, 4))
Y = (X @ jnp.array([1.0, -2.0, 0.5, 3.0]) > 0).astype(jnp.float32)


def loss(params, batch):
    """Logistic regression on a fixed data set (the batch argument is unused)."""
    logits = X @ params["w"] + params["b"] + 0.0 * params["frozen"].sum()
    return jnp.mean(jnp.logaddexp(0.0, logits) - Y * logits)


def params():
    return {"w": jnp.full((4,), 0.1), "b": jnp.zeros(()), "frozen": jnp.ones((2,))}


def test_every_registered_optimizer_has_an_example():
    assert sorted(EXAMPLES) == registry.names("optimizer")


@pytest.mark.parametrize("name", registry.names("optimizer"))
def test_every_optimizer_leaves_the_caller_untouched(name):
    opt = registry.build("optimizer", EXAMPLES[name])
    start = params()
    state = opt.init(start)
    before = jax.tree.map(np.array, (start, state))
    test = lr_finder.lr_range_test(
        loss, start, opt, lambda step: None, opt_state=state, start=1e-4, end=1e3, steps=25
    )
    assert test.stop in lr_finder.STOPS and len(test.lrs) >= 2
    assert np.allclose(test.lrs, lr_finder.rates(1e-4, 1e3, 25)[: len(test.lrs)])
    after = jax.tree.map(np.array, (start, state))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))


def test_the_rate_reaches_the_update():
    """With SGD the update at step i is exactly -lr_i * gradient: the test drives the real rate."""
    seen = []

    def quadratic(p, batch):
        return 0.5 * jnp.sum(p**2)

    opt = registry.build("optimizer", "sgd(learning_rate=0.5)")
    test = lr_finder.lr_range_test(
        quadratic, jnp.ones(()), opt, lambda step: seen.append(step), start=1e-3, end=1e-1, steps=5
    )
    w, expected = 1.0, []
    for lr in lr_finder.rates(1e-3, 1e-1, 5):
        expected.append(0.5 * w * w)
        w -= lr * w
    assert test.stop == "end" and seen == [0, 1, 2, 3, 4]
    assert np.allclose(test.losses, expected, rtol=1e-6)


def test_a_scheduled_rate_is_refused():
    opt = registry.build("optimizer", "sgd(learning_rate='cosine(init_value=0.1, decay_steps=10)')")
    with pytest.raises(ValueError, match="schedule"):
        lr_finder.lr_range_test(loss, params(), opt, lambda step: None, steps=5)


def test_an_optimizer_without_injected_rate_is_refused():
    import optax

    with pytest.raises(ValueError, match="no injected 'learning_rate'"):
        lr_finder.lr_range_test(loss, params(), optax.sgd(0.1), lambda step: None, steps=5)


def test_divergence_stops_at_four_times_the_best():
    opt = registry.build("optimizer", "sgd(learning_rate=0.1)")
    test = lr_finder.lr_range_test(loss, params(), opt, lambda step: None, start=1e-3, end=1e4, steps=100)
    assert test.stop == "diverged"
    best = np.minimum.accumulate(test.smoothed)
    assert test.smoothed[-1] > 4 * best[-1]
    assert np.all(test.smoothed[1:-1] <= 4 * best[1:-1])
    assert test.stop_lr == test.lrs[-1] < 1e4


def test_non_finite_loss_stops_and_reports_the_rate():
    """w ← w − lr·w blows up once lr > 2; its square overflows float32 a few steps later."""
    opt = registry.build("optimizer", "sgd(learning_rate=0.1)")
    planned = lr_finder.rates(1e-2, 1e6, 60)
    test = lr_finder.lr_range_test(
        lambda p, b: 0.5 * jnp.sum(p**2),
        jnp.ones(()),
        opt,
        lambda step: None,
        start=1e-2,
        end=1e6,
        steps=60,
        stop_factor=float("inf"),
    )
    assert test.stop == "non-finite"
    assert np.all(np.isfinite(test.losses))
    assert test.stop_lr == pytest.approx(planned[len(test.lrs)])
    assert "non-finite" in test.summary()


def test_too_short_a_curve_gives_no_suggestion():
    opt = registry.build("optimizer", "sgd(learning_rate=0.1)")
    test = lr_finder.lr_range_test(
        lambda p, b: jnp.where(p < 0.5, jnp.nan, p),
        jnp.ones(()),
        opt,
        lambda step: None,
        start=1.0,
        end=2.0,
        steps=10,
    )
    # the first step takes p from 1 to 0, so the second loss is NaN: one point only
    assert test.stop == "non-finite" and len(test.lrs) == 1
    assert all(np.isnan(v) for v in test.suggestions.values())
    assert test.to_dict()["suggestions"] == {"steepest": None, "valley": None, "minimum_over_10": None}
    assert test.to_dict()["minimum_lr"] is None
    assert np.isnan(test.step_seconds) or test.step_seconds > 0


def test_saved_curve_and_plot(tmp_path):
    opt = registry.build("optimizer", "adam()")
    test = lr_finder.lr_range_test(loss, params(), opt, lambda step: None, start=1e-4, end=1e3, steps=30)
    json_path, csv_path = test.save(tmp_path / "curve")
    saved = json.loads(json_path.read_text())
    assert saved["stop"] == test.stop and saved["suggestions"] == pytest.approx(test.suggestions)
    assert [row["lr"] for row in saved["curve"]] == pytest.approx(test.lrs.tolist())
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "step,lr,loss,smoothed" and len(rows) == len(test.lrs) + 1
    figure = lr_finder.draw(test, "t")
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert {"valley", "steepest", "minimum/10"} <= {label.split(":")[0] for label in labels}
    figure.savefig(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 10_000


def test_minimum_over_10_is_named_for_what_it_is(tmp_path):
    """The rule gives a tenth of the rate at the lowest loss: the plot, the JSON and the summary say so."""
    opt = registry.build("optimizer", "adam()")
    test = lr_finder.lr_range_test(loss, params(), opt, lambda step: None, start=1e-4, end=1e3, steps=30)
    tenth, lowest = test.suggestions["minimum_over_10"], test.minimum_lr
    assert tenth == pytest.approx(lowest / 10) and lowest in test.lrs
    saved = json.loads(test.save(tmp_path / "curve")[0].read_text())
    assert "minimum" not in saved["suggestions"]
    assert saved["suggestions"]["minimum_over_10"] == pytest.approx(tenth)
    assert saved["minimum_lr"] == pytest.approx(lowest)
    labels = [text.get_text() for text in lr_finder.draw(test).axes[0].get_legend().get_texts()]
    assert f"minimum/10: {tenth:.2g}" in labels and f"lowest smoothed loss: {lowest:.2g}" in labels
    assert not any(label.startswith("minimum:") for label in labels)
    assert f"minimum/10 {tenth:.3g} (the lowest smoothed loss is at {lowest:.3g})" in test.summary()
