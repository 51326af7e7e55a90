"""evaluate_ensemble on trained members: metrics match a recomputation; fused; SWA; bad input."""

import dataclasses
import json
import math
import re

import numpy as np
import pytest

import registry
from tricks import ensembles, train


@pytest.fixture(scope="module")
def snapshots(snapshot_run):
    return ensembles.load_members([snapshot_run], "cycle_ends")


def test_result_matches_a_recomputation_from_the_members(snapshots):
    result = ensembles.evaluate_ensemble(snapshots, "mean_prob", "test", strategy="map")
    outputs = ensembles.member_logits(snapshots.members, snapshots.batches("test"), "loop")
    assert result["examples"] == 360 == outputs.labels.size
    for row, logits in zip(result["members"], outputs.logits, strict=True):
        expected = ensembles.summarize(ensembles.log_softmax(logits), outputs.labels)
        assert row["accuracy"] == pytest.approx(expected["accuracy"])
        assert row["nll"] == pytest.approx(expected["nll"], rel=1e-5)
    probs = np.mean([np.exp(ensembles.log_softmax(l)) for l in outputs.logits], axis=0)
    assert result["ensemble"]["accuracy"] == pytest.approx(np.mean(probs.argmax(-1) == outputs.labels))
    assert result["ensemble"]["nll"] == pytest.approx(
        -np.mean(np.log(probs[np.arange(probs.shape[0]), outputs.labels])), rel=1e-5
    )
    on_validation = ensembles.evaluate_ensemble(snapshots, "mean_prob", "validation", strategy="map")
    scores = [(row["accuracy"], -row["nll"]) for row in on_validation["members"]]
    index = scores.index(max(scores))
    assert result["best_member"] == {**result["members"][index], "chosen_on": "validation"}
    assert result["evaluation"]["strategy"] == "map"
    # The last snapshot's test accuracy is what training reported for that step.
    assert result["members"][-1]["accuracy"] == pytest.approx(
        json.loads((snapshots[0].workdir / "summary.json").read_text())["splits"]["test"]["accuracy"]
    )


@pytest.mark.parametrize("rule", registry.names("ensemble"))
def test_every_rule_evaluates_trained_members(snapshots, rule):
    result = ensembles.evaluate_ensemble(snapshots, rule, "test")
    assert set(result["ensemble"]) == {"accuracy", "nll", "ece"}
    assert 0 <= result["ensemble"]["accuracy"] <= 1 and 0 <= result["ensemble"]["ece"] <= 1
    assert result["combine"] == rule
    assert "ensemble (" + rule + ")" in ensembles.table(result)


def test_fused_fits_on_validation_and_is_no_worse_there(snapshots):
    result = ensembles.evaluate_ensemble(snapshots, "fused", "validation")
    weights = np.array(result["weights"])
    assert weights.shape == (5,) and np.all(weights >= 0) and weights.sum() == pytest.approx(1.0)
    best_nll = min(row["nll"] for row in result["members"])
    equal = ensembles.evaluate_ensemble(snapshots, "mean_prob", "validation")["ensemble"]["nll"]
    assert result["ensemble"]["nll"] <= min(best_nll, equal) + 1e-6


def test_fusion_needs_a_validation_split(snapshots, shared_data_dir):
    no_validation = registry.build("dataset", {"name": "digits", "validation_fraction": 0.0})
    members = dataclasses.replace(snapshots, dataset=no_validation)
    with pytest.raises(
        ensembles.EnsembleError,
        match="fused fits its weights on the validation split, but dataset .* has an empty one",
    ):
        ensembles.evaluate_ensemble(members, "fused", "test")
    with pytest.raises(ensembles.EnsembleError, match="no \\(non-empty\\) split 'validation'"):
        ensembles.evaluate_ensemble(members, "mean_prob", "validation")


def test_swa_averages_the_snapshots_and_recomputes_batch_norm_statistics(bn_run):
    members = ensembles.load_members([bn_run], "cycle_ends")
    assert [m.step for m in members] == [4, 8, 12]
    averaged = ensembles.average_variables([m.variables for m in members])
    kernels = [np.asarray(m.variables["params"]["Conv_0"]["kernel"]) for m in members]
    np.testing.assert_allclose(
        averaged["params"]["Conv_0"]["kernel"], np.mean(kernels, 0), rtol=1e-6, atol=1e-7
    )
    fresh = ensembles.recompute_batch_stats(
        members[0].model, averaged, members.train_batches(), augment=members[0].augment, num_classes=10
    )
    old_mean = np.asarray(averaged["batch_stats"]["BatchNorm_0"]["mean"])
    new_mean = np.asarray(fresh["batch_stats"]["BatchNorm_0"]["mean"])
    assert not np.allclose(old_mean, new_mean, atol=1e-4)

    # Reference: the mean over one epoch of each batch's channel means after the averaged conv.
    def conv(x):
        _, found = members[0].model.apply(
            averaged, x, capture_intermediates=lambda mdl, _: mdl.name == "Conv_0", mutable=["intermediates"]
        )
        return found["intermediates"]["Conv_0"]["__call__"][0]

    per_batch = [np.asarray(conv(b["image"])).mean(axis=(0, 1, 2)) for b in members.train_batches()]
    np.testing.assert_allclose(new_mean, np.mean(per_batch, 0), rtol=1e-4, atol=1e-5)
    result = ensembles.evaluate_ensemble(members, "swa", "test")
    assert 0 <= result["ensemble"]["accuracy"] <= 1


def test_swa_refuses_members_of_different_architectures(snapshots, bn_run):
    mixed = dataclasses.replace(
        snapshots, members=(snapshots[0], ensembles.load_members([bn_run], "last")[0])
    )
    with pytest.raises(
        ensembles.MemberMismatchError,
        match="weight averaging needs members of one architecture, but they differ at",
    ):
        ensembles.evaluate_ensemble(mixed, "swa", "test")


def test_results_are_strict_json(snapshots):
    result = ensembles.evaluate_ensemble(snapshots, "vote", "test")
    back = json.loads(json.dumps(ensembles.jsonable(result), allow_nan=False))
    if math.isinf(result["ensemble"]["nll"]):
        assert back["ensemble"]["nll"] is None
    else:
        assert back["ensemble"]["nll"] == pytest.approx(result["ensemble"]["nll"])
    assert back["members"][0]["name"] == result["members"][0]["name"]


def _always(model, label: int) -> ensembles.Member:
    """A logistic-regression member that predicts `label` for every image."""
    variables = {"params": {"head": {"kernel": np.zeros((64, 10), np.float32),
                                     "bias": 10 * np.eye(10, dtype=np.float32)[label]}}}
    return ensembles.Member(f"always_{label}", model, variables, "linear")


def test_the_best_single_member_is_picked_on_validation_not_on_the_test_split():
    """Two constant members: one is the better on validation, the other on test."""
    dataset = registry.build("dataset", "digits")
    counts = {split: np.bincount(dataset.arrays(split)[1], minlength=10) for split in ("validation", "test")}
    on_validation, on_test = int(np.argmax(counts["validation"])), int(np.argmax(counts["test"]))
    assert counts["validation"][on_validation] > counts["validation"][on_test]  # the data disagree,
    assert counts["test"][on_test] > counts["test"][on_validation]  # as the test needs
    model = registry.build("model", "mlp(widths=(), num_classes=10)")
    members = ensembles.Members((_always(model, on_test), _always(model, on_validation)), dataset,
                                train.default_config())
    result = ensembles.evaluate_ensemble(members, "mean_prob", "test", strategy="loop")
    assert result["best_member"]["name"] == f"always_{on_validation}"
    test_accuracy = counts["test"][on_validation] / counts["test"].sum()
    assert result["best_member"]["accuracy"] == pytest.approx(test_accuracy)
    assert f"best single (by validation accuracy): always_{on_validation}" in ensembles.table(result)

    no_validation = registry.build("dataset", {"name": "digits", "validation_fraction": 0.0})
    members = dataclasses.replace(members, dataset=no_validation)
    result = ensembles.evaluate_ensemble(members, "mean_prob", "test", strategy="loop")
    assert result["best_member"]["chosen_on"] == "test"
    assert f"best single (by test accuracy; no validation split): always_{on_test}" in ensembles.table(result)


def _cell_spans(line: str) -> list[tuple[int, int]]:
    """Where each cell of a table line starts and ends (cells are separated by 2 or more spaces)."""
    return [match.span() for match in re.finditer(r"\S+(?: \S+)*", line)]


def test_the_table_follows_the_longest_member_name():
    long = "03_optimizer=adamw(learning_rate=0.003,weight_decay=0.0001),seed=2@1200"
    rows = [{"name": name, "accuracy": 0.9, "nll": 0.3, "ece": 0.02} for name in ("run@10", long)]
    text = ensembles.table({"split": "test", "combine": "mean_prob", "examples": 10, "members": rows,
                            "best_member": {**rows[1], "chosen_on": "validation"},
                            "ensemble": {"accuracy": 0.95, "nll": float("inf"), "ece": 0.01}})
    lines = text.splitlines()[1:]
    assert len(lines) == 5
    ends = [[end for _, end in _cell_spans(line)[1:]] for line in lines]
    assert all(len(e) == 3 for e in ends) and all(e == ends[0] for e in ends), text
    assert all(_cell_spans(line)[0][0] == 0 for line in lines)
