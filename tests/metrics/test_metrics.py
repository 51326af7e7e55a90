"""Metric components, generated over the registry: exact under any grouping of batches, masks
respected, against scikit-learn and hand computations; the configs that name them."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn import metrics as sk

import registry
import tricks  # noqa: F401  (registers the metrics)
from tricks import train
from tricks.metrics import EVAL_OUTPUTS, TRAIN_OUTPUTS, Metrics, records

N, C = 40, 5
RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, C, N).astype(np.int32)
LOGITS = (RNG.normal(size=(N, C)) * 2 + 2 * np.eye(C)[LABELS]).astype(np.float32)
PARAMS = {"Dense_0": {"kernel": jnp.asarray(RNG.normal(size=(3, 2)), jnp.float32), "bias": jnp.ones(2)},
          "head": {"kernel": jnp.asarray(RNG.normal(size=(2, 2)), jnp.float32)}}
OPT_STATE = registry.build("optimizer", "on_plateau(sgd(learning_rate=0.5, momentum=0.9), "
                                        "reduce_on_plateau(factor=0.5, patience=0))").init(PARAMS)
OUTPUTS = {"logits": jnp.asarray(LOGITS), "labels": jnp.asarray(LABELS), "loss": jnp.asarray(RNG.random(N)),
           "grads": PARAMS, "updates": PARAMS, "params": PARAMS, "opt_state": OPT_STATE}

# name -> an example spec using its options.
EXAMPLES = {
    "accuracy": "accuracy",
    "confusion_matrix": "confusion_matrix",
    "ece": "ece(bins=10)",
    "grad_norm": "grad_norm",
    "hyperparams": "hyperparams",
    "learning_rate": "learning_rate",
    "loss": "loss",
    "nll": "nll",
    "param_norm": "param_norm",
    "per_class_accuracy": "per_class_accuracy",
    "top_k_accuracy": "top_k_accuracy(k=3)",
    "update_norm": "update_norm",
}
SUMMED = [n for n in sorted(EXAMPLES) if not registry.build("metric", EXAMPLES[n]).at_log_step]


def value(spec, **outputs):
    return records(registry.build("metric", spec).from_model_output(**outputs))


def test_every_registered_metric_has_an_example():
    assert sorted(EXAMPLES) == registry.names("metric")


@pytest.mark.parametrize("name", registry.names("metric"))
def test_jittable_and_named_as_recorded(name):
    cls = registry.build("metric", EXAMPLES[name])
    metric = jax.jit(lambda o: cls.from_model_output(**o))(OUTPUTS)
    found = records(metric)
    assert found and all(k == cls.name or k.startswith(cls.name + "/") or cls.name in ("hyperparams",)
                         for k in found)
    assert cls.needs <= (TRAIN_OUTPUTS if cls.at_log_step else EVAL_OUTPUTS)


@pytest.mark.parametrize("name", SUMMED)
def test_summed_metrics_are_exact_over_any_grouping_and_ignore_masked_rows(name):
    cls = registry.build("metric", EXAMPLES[name])
    whole = records(cls.from_model_output(**OUTPUTS))
    parts = [slice(0, 7), slice(7, 8), slice(8, 40)]
    merged = None
    for part in parts:
        piece = cls.from_model_output(**{k: OUTPUTS[k][part] for k in ("logits", "labels", "loss")})
        merged = piece if merged is None else merged.merge(piece)
    np.testing.assert_allclose(_flat(records(merged)), _flat(whole), rtol=1e-5)
    padded = {k: jnp.concatenate([OUTPUTS[k], OUTPUTS[k][:9] * 0 + 1]) for k in ("logits", "labels", "loss")}
    mask = jnp.concatenate([jnp.ones(N), jnp.zeros(9)])
    np.testing.assert_allclose(_flat(records(cls.from_model_output(**padded, mask=mask))), _flat(whole), rtol=1e-5)
    zeros = jax.tree.map(jnp.zeros_like, cls.from_model_output(**OUTPUTS))  # the empty state a call starts from
    np.testing.assert_allclose(_flat(records(zeros.merge(cls.from_model_output(**OUTPUTS)))), _flat(whole))


def _flat(found):
    return np.concatenate([np.ravel(np.asarray(v, np.float64)) for _, v in sorted(found.items())])


def test_against_scikit_learn():
    probs = np.asarray(jax.nn.softmax(LOGITS))
    predicted = LOGITS.argmax(-1)
    assert value("accuracy", **OUTPUTS)["accuracy"] == pytest.approx(sk.accuracy_score(LABELS, predicted))
    assert value("top_k_accuracy(k=3)", **OUTPUTS)["top3_accuracy"] == pytest.approx(
        sk.top_k_accuracy_score(LABELS, LOGITS, k=3, labels=range(C)))
    assert value("nll", **OUTPUTS)["nll"] == pytest.approx(sk.log_loss(LABELS, probs, labels=range(C)), rel=1e-5)
    recall = sk.recall_score(LABELS, predicted, average=None, labels=range(C), zero_division=np.nan)
    per_class = value("per_class_accuracy", **OUTPUTS)
    np.testing.assert_allclose([per_class[f"per_class_accuracy/{c}"] for c in range(C)], recall, rtol=1e-6)
    np.testing.assert_array_equal(value("confusion_matrix", **OUTPUTS)["confusion_matrix"],
                                  sk.confusion_matrix(LABELS, predicted, labels=range(C)))
    assert value("loss", **OUTPUTS)["loss"] == pytest.approx(float(np.mean(OUTPUTS["loss"])), rel=1e-6)


def ece_of(confidence, correct, bins=15):
    """The ECE of predictions of class 0 with the given confidences, right where `correct`."""
    confidence = np.asarray(confidence, np.float64)
    logits = np.log(np.stack([confidence, 1 - confidence], axis=1))
    labels = np.where(correct, 0, 1)
    return value(f"ece(bins={bins})", logits=jnp.asarray(logits, jnp.float32), labels=jnp.asarray(labels),
                 predicted=jnp.zeros(len(labels), jnp.int32))["ece"]


def test_ece_by_hand():
    # 15 bins of width 1/15; confidences and the bins they fall in:
    #   0.97, 0.95 -> bin 14 (0.9333, 1]: accuracy 1/2, mean confidence 0.96 -> gap 0.46, weight 2/6
    #   0.70       -> bin 10 (0.6667, 0.7333]: accuracy 1, confidence 0.70 -> gap 0.30, weight 1/6
    #   0.40, 0.38 -> bin 5 (0.3333, 0.4]: accuracy 0, mean confidence 0.39 -> gap 0.39, weight 2/6
    #   0.10       -> bin 1 (0.0667, 0.1333]: accuracy 1, confidence 0.10 -> gap 0.90, weight 1/6
    confidence = [0.97, 0.95, 0.70, 0.40, 0.38, 0.10]
    correct = [True, False, True, False, False, True]
    assert ece_of(confidence, correct) == pytest.approx((2 * 0.46 + 0.30 + 2 * 0.39 + 0.90) / 6, abs=1e-6)
    # the bin edges are closed on the right: with 2 bins, 0.5 belongs to bin 0 with 0.1, not to bin 1 with 0.9
    assert ece_of([0.5, 0.1, 0.9], [True, False, False], bins=2) == pytest.approx((abs(1 - 0.6) + 0.9) / 3, abs=1e-6)
    assert ece_of(np.full(10, 0.7), [True] * 7 + [False] * 3) == pytest.approx(0.0, abs=1e-6)  # calibrated


def test_no_example_gives_nan_and_a_zero_probability_label_infinite_nll():
    empty = {"logits": jnp.zeros((0, 3)), "labels": jnp.zeros(0, jnp.int32)}
    assert np.isnan(value("accuracy", **empty)["accuracy"]) and np.isnan(value("ece", **empty)["ece"])
    with np.errstate(divide="ignore"):
        log_probs = jnp.log(jnp.array([[1.0, 0.0]]))
    assert value("nll", logits=log_probs, labels=jnp.array([1]))["nll"] == float("inf")


def test_state_metrics_against_numpy():
    leaves = {"Dense_0": np.concatenate([np.ravel(PARAMS["Dense_0"]["bias"]), np.ravel(PARAMS["Dense_0"]["kernel"])]),
              "head": np.ravel(PARAMS["head"]["kernel"])}
    norms = value("grad_norm", grads=PARAMS)
    assert norms["grad_norm/Dense_0"] == pytest.approx(np.linalg.norm(leaves["Dense_0"]), rel=1e-6)
    total = np.linalg.norm(np.concatenate(list(leaves.values())))
    assert norms["grad_norm"] == pytest.approx(total, rel=1e-6)
    assert value("param_norm", params=PARAMS)["param_norm"] == pytest.approx(total, rel=1e-6)
    halved = jax.tree.map(lambda x: -0.5 * x, PARAMS)
    sizes = value("update_norm", updates=halved, grads=PARAMS, params=PARAMS)
    assert sizes == {"update_norm": pytest.approx(total / 2, rel=1e-6), "update_norm/ratio": pytest.approx(0.5),
                     "update_norm/effective_rate": pytest.approx(0.5)}
    assert value("hyperparams", opt_state=OPT_STATE) == {"momentum": pytest.approx(0.9), "plateau_scale": 1.0}


def test_the_learning_rate_is_the_one_applied_under_a_plateau_rule():
    """Issue 14 item 3: the plateau's scale is part of the rate recorded."""
    from tricks import schedules
    state = OPT_STATE
    for loss in (1.0, 1.0, 1.0):  # patience 0: every non-improving loss halves the rate
        state = schedules.feed_plateau(state, jnp.float32(loss))
    found = value("learning_rate", opt_state=state)
    assert found["learning_rate/scheduled"] == pytest.approx(0.5)
    assert found["learning_rate"] == pytest.approx(0.5 * value("hyperparams", opt_state=state)["plateau_scale"])
    assert found["learning_rate"] < 0.5
    assert value("learning_rate", opt_state=optax.sgd(0.1).init(PARAMS)) == {}  # no injected rate: no record


def test_bad_metric_lists_are_refused_before_anything_runs():
    with pytest.raises(registry.RegistryError, match="did you mean 'accuracy'"):
        Metrics(["acuracy"], EVAL_OUTPUTS)
    with pytest.raises(registry.RegistryError, match="eval_metrics: metric grad_norm reads grads"):
        Metrics(["grad_norm"], EVAL_OUTPUTS, "eval_metrics")
    with pytest.raises(registry.RegistryError, match="named more than once"):
        Metrics(["nll", "nll"], EVAL_OUTPUTS)
    cfg = train.default_config()
    cfg.eval_metrics = ["loss", "param_norm"]
    with pytest.raises(registry.RegistryError, match="param_norm reads params"):
        train.setup(cfg)


def test_a_run_records_the_metrics_its_config_names(tmp_path):
    cfg = train.default_config()
    cfg.num_steps, cfg.log_every, cfg.eval_every, cfg.progress, cfg.histogram_every = 20, 10, 20, False, 0
    cfg.eval_splits = ["test"]
    cfg.train_metrics = ["loss", "top_k_accuracy(k=2)", "learning_rate"]
    cfg.eval_metrics = ["accuracy", "nll", "ece", "per_class_accuracy", "confusion_matrix"]
    summary = train.train_and_evaluate(cfg, tmp_path)
    records_ = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_keys = {k for r in records_ for k in r if k.startswith("train/")}
    assert train_keys == {"train/loss", "train/top2_accuracy", "train/learning_rate"}
    test = summary["splits"]["test"]
    assert sorted(test) == sorted(["accuracy", "nll", "ece", "confusion_matrix", "examples"]
                                  + [f"per_class_accuracy/{c}" for c in range(10)])
    matrix = np.array(test["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == test["examples"] == 360
    assert np.trace(matrix) / 360 == pytest.approx(test["accuracy"])
    assert test["examples"] == 360 and 0 <= test["ece"] < 1


def test_the_outputs_a_training_call_carries_are_those_its_log_step_metrics_read():
    assert Metrics(["loss", "accuracy"], TRAIN_OUTPUTS).log_step_needs == frozenset()
    assert Metrics(["loss", "update_norm", "learning_rate"], TRAIN_OUTPUTS).log_step_needs == {
        "updates", "grads", "params", "opt_state"}


def test_the_effective_rate_of_plain_sgd_is_its_learning_rate(tmp_path):
    """``update_norm/effective_rate`` (the step's length over the gradient's) recorded in a
    run: for SGD, exactly its scheduled rate; for AdaGrad, a rate that shrinks as its
    squared gradients accumulate."""
    cfg = train.default_config()
    cfg.num_steps, cfg.log_every, cfg.eval_every, cfg.progress, cfg.histogram_every = 40, 10, 40, False, 0
    cfg.eval_splits, cfg.train_metrics = ["test"], ["loss", "learning_rate", "update_norm"]
    cfg.optimizer = "sgd(learning_rate='cosine(init_value=0.1)')"
    train.train_and_evaluate(cfg, tmp_path / "sgd")
    logged = [json.loads(line) for line in (tmp_path / "sgd" / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in logged if "train/update_norm" in r]
    assert len(logged) == 4
    for r in logged:
        assert r["train/update_norm/effective_rate"] == pytest.approx(r["train/learning_rate"], rel=1e-4)
    cfg.optimizer = "adagrad(learning_rate=0.1)"
    train.train_and_evaluate(cfg, tmp_path / "adagrad")
    logged = [json.loads(line) for line in (tmp_path / "adagrad" / "metrics.jsonl").read_text().splitlines()]
    rates = [r["train/update_norm/effective_rate"] for r in logged if "train/update_norm" in r]
    assert rates == sorted(rates, reverse=True) and rates[-1] < rates[0]


def test_the_default_metrics_give_the_records_of_every_run(tmp_path):
    cfg = train.default_config()
    cfg.num_steps, cfg.log_every, cfg.eval_every, cfg.progress, cfg.eval_splits = 10, 10, 10, False, ["test"]
    summary = train.train_and_evaluate(cfg, tmp_path)
    assert sorted(summary["train"]) == ["accuracy", "b1", "grad_norm", "grad_norm/Dense_0", "grad_norm/Dense_1",
                                        "grad_norm/head", "learning_rate", "loss", "param_norm", "weight_decay"]
    assert sorted(summary["eval"]) == ["accuracy", "examples", "loss"]


def test_the_learning_rate_after_swats_switches_is_the_sgd_rate_it_applies():
    """Issue 14 item 3: after SWATS switched, the Adam rate was reported instead of the SGD one."""
    from tricks.optimizers import ScaleBySwatsState, applied_learning_rate
    state = registry.build("optimizer", "swats(learning_rate=0.001)").init(PARAMS)
    assert float(applied_learning_rate(state)) == pytest.approx(0.001)  # Adam's phase: the injected rate
    is_swats = lambda node: isinstance(node, ScaleBySwatsState)  # noqa: E731
    switched = jax.tree.map(lambda n: n._replace(switched=jnp.array(True), sgd_rate=jnp.float32(0.58),
                                                 switch_learning_rate=jnp.float32(0.001)) if is_swats(n) else n,
                            state, is_leaf=is_swats)
    found = value("learning_rate", opt_state=switched)
    assert found["learning_rate/scheduled"] == pytest.approx(0.001)
    assert found["learning_rate"] == pytest.approx((1 - 0.9) * 0.58)  # momentum SGD's rate on v = b1 v + g
