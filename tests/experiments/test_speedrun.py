"""The speedrun's verdict follows its stated rule: the recipe's mean accuracy against the
target, its mean wall time against the baseline's time to target; a trick carries the
recipe where its ablation misses the target or is more than 10% slower."""

import pathlib

import pytest

from experiments import Runs
from experiments.speedrun import TASKS, Task, Trick, judge, reaches


def runs(accuracies, seconds):
    """Runs with the given test accuracies and wall times (and no records)."""
    summaries = [{"test": {"accuracy": a}, "wall_time_s": s, "step": 100}
                 for a, s in zip(accuracies, seconds, strict=True)]
    return Runs([pathlib.Path("nowhere")] * len(accuracies), summaries, [[] for _ in accuracies], 10)


TASK = Task("toy", "mnist1d_cnn", 0.9, (Trick("a", ("x=1",), ("x=0",)), Trick("b", ("y=1",), ("y=0",))), seeds=3)


@pytest.mark.parametrize("recipe, baseline, verdict", [
    (runs([0.91, 0.92], [2.0, 2.2]), runs([0.85, 0.86], [1.0, 1.0]), "reproduced"),  # the baseline never reaches it
    (runs([0.91, 0.92], [2.0, 2.2]), runs([0.95, 0.95], [3.0, 3.0]), "reproduced"),
    (runs([0.91, 0.92], [2.0, 2.2]), runs([0.95, 0.95], [1.5, 1.5]), "mixed"),  # reached, not faster
    (runs([0.95, 0.84], [1.0, 1.0]), runs([0.85, 0.86], [9.0, 9.0]), "not reproduced"),  # the mean misses
])
def test_the_verdict_compares_the_mean_accuracy_and_the_time_to_target(recipe, baseline, verdict):
    found = {"baseline": baseline, "recipe": recipe, "without a": recipe, "without b": recipe}
    assert judge(TASK, found)[0] == verdict


def test_a_trick_carries_the_recipe_where_its_ablation_misses_the_target_or_is_slower():
    recipe = runs([0.92, 0.92], [2.0, 2.0])
    found = {"baseline": runs([0.8, 0.8], [5.0, 5.0]), "recipe": recipe,
             "without a": runs([0.89, 0.89], [2.0, 2.0]), "without b": runs([0.93, 0.93], [2.3, 2.3])}
    reading = judge(TASK, found)[1]
    assert "Carried by: a (accuracy), b (time)." in reading
    assert "a -3.00 points, +0.0 s; b +1.00 points, +0.3 s" in reading
    found["without b"] = runs([0.93, 0.93], [2.1, 2.1])  # 5% slower: not carried
    assert "Carried by: a (accuracy)." in judge(TASK, found)[1]
    found["recipe"] = runs([0.88, 0.96], [2.0, 2.0])  # std 5.7 points: a 3-point shortfall is within it
    assert "Carried by: no single trick." in judge(TASK, found)[1]


def test_a_failed_run_counts_as_zero_in_the_mean():
    failed = Runs([pathlib.Path("nowhere")] * 2, [{"test": {"accuracy": 0.97}}, {"error": "non-finite loss"}],
                  [[], []], 10)
    assert not reaches(failed, 0.9)


def test_each_ablation_sets_back_one_trick_of_the_recipe():
    for task in TASKS.values():
        arms = task.arms()
        recipe = arms["recipe"]
        assert arms["baseline"] == [] and len(arms) == len(task.tricks) + 2
        for trick in task.tricks:
            assert arms[f"without {trick.name}"] == [*recipe, *trick.baseline]
            assert trick.baseline, f"{trick.name}: nothing sets it back"


def test_the_ablation_arms_run_their_own_number_of_seeds(monkeypatch, tmp_path):
    import experiments.speedrun as speedrun
    from experiments import Options

    trained = []

    def fake_train_arms(base, arms, seeds, root, vectorize):
        assert not vectorize  # one run after another: each wall time is its own
        trained.append((root.name, list(arms), len(seeds)))
        return {arm: runs([0.95] * len(seeds), [1.0] * len(seeds)) for arm in arms}

    monkeypatch.setattr(speedrun, "train_arms", fake_train_arms)
    monkeypatch.setattr(speedrun, "base_config", lambda task, smoke: None)
    result = speedrun.run(Options(mode="full", workdir=tmp_path))
    fashion = TASKS["fashion_mnist"]
    assert trained == [
        ("mnist1d", ["baseline", "recipe"], 10), ("mnist1d", list(TASKS["mnist1d"].arms())[2:], 10),
        ("fashion_mnist", ["baseline", "recipe"], 5), ("fashion_mnist", list(fashion.arms())[2:], 3)]
    counts = {(row[0], row[1]): row[4] for row in result.rows}
    assert counts["Fashion-MNIST", "recipe"] == "5 of 5" and counts["Fashion-MNIST", "without batch norm"] == "3 of 3"
    trained.clear()
    speedrun.run(Options(mode="full", seeds=2, workdir=tmp_path))  # --seeds sets every arm's
    assert {count for _, _, count in trained} == {2}
