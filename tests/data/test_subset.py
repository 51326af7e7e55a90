"""Class subsets and few-label draws of a dataset (``subset``), through both loaders."""

import numpy as np
import pytest

import registry
from tricks.data import make_loader


def subset(digits, **kwargs):
    return registry.build("dataset", {"name": "subset", "dataset": digits, **kwargs})


def test_kept_classes_are_relabelled_in_their_given_order(digits):
    ds = subset(digits, classes=[7, 2])
    assert ds.class_names == ("7", "2") and ds.num_classes == 2
    for split in ("train", "validation", "test"):
        full_x, full_y = digits.arrays(split)
        x, y = ds.arrays(split)
        expected = np.isin(full_y, [7, 2])
        np.testing.assert_array_equal(x, full_x[expected])  # the original order is kept
        np.testing.assert_array_equal(y, np.where(full_y[expected] == 7, 0, 1))
        assert [ds.source(split)[i]["label"] for i in range(3)] == y[:3].tolist()


def test_few_labels_are_a_seeded_draw_per_class(digits):
    a = subset(digits, classes=[5, 6], train_per_class=7, seed=3)
    b = subset(digits, classes=[5, 6], train_per_class=7, seed=3)
    c = subset(digits, classes=[5, 6], train_per_class=7, seed=4)
    assert a.class_counts("train").tolist() == [7, 7]
    np.testing.assert_array_equal(a.arrays("train")[0], b.arrays("train")[0])
    assert not np.array_equal(a.arrays("train")[0], c.arrays("train")[0])
    assert a.split_sizes["test"] == int(np.isin(digits.labels("test"), [5, 6]).sum())  # test keeps all
    assert a.name != c.name and "train_per_class=7" in a.name  # loaders tell the draws apart


def test_a_count_per_class_gives_a_fixed_imbalanced_subset(digits):
    counts = [40, 40, 4, 4, 0]  # 0: all of that class
    ds = subset(digits, classes=[0, 1, 2, 3, 4], train_per_class=counts, seed=1)
    assert ds.class_counts("train").tolist() == counts[:4] + [int((digits.labels("train") == 4).sum())]
    again = subset(digits, classes=[0, 1, 2, 3, 4], train_per_class=counts, seed=1)
    np.testing.assert_array_equal(ds.arrays("train")[0], again.arrays("train")[0])
    assert "train_per_class=40,40,4,4,0" in ds.name
    assert ds.class_counts("validation").tolist() == \
        [int((digits.labels("validation") == c).sum()) for c in range(5)]  # other splits untouched
    # a single count is the same draw whether given once or once per class
    same = subset(digits, classes=[5, 6], train_per_class=[7, 7], seed=3)
    np.testing.assert_array_equal(same.arrays("train")[0], subset(digits, classes=[5, 6], train_per_class=7,
                                                                  seed=3).arrays("train")[0])


@pytest.mark.parametrize("on_device", [True, False])
def test_both_loaders_see_only_the_subset(digits, on_device):
    ds = subset(digits, classes=[3, 4, 8], train_per_class=10)
    loader = make_loader(ds, "train", batch_size=10, seed=0, on_device=on_device)
    seen = np.concatenate([np.asarray(loader.batch(step)["label"]) for step in range(3)])
    assert sorted(set(seen.tolist())) == [0, 1, 2] and loader.steps_per_epoch == 3
    x, _ = ds.arrays("train")
    first = np.asarray(loader.batch(0)["image"])
    assert all(any(np.array_equal(row, other) for other in x) for row in first)


@pytest.mark.parametrize("kwargs, argument, match", [
    ({"classes": [1, 1]}, "classes", "distinct integers in \\[0, 10\\)"),
    ({"classes": [10]}, "classes", "distinct integers"),
    ({"classes": ["one"]}, "classes", "no class 'one'"),
    ({"classes": [0], "train_per_class": 500}, "train_per_class", "class 0 \\('0'\\) has 125 examples"),
    ({"validation_per_class": -1}, "validation_per_class", "must be >= 0"),
    ({"classes": [0, 1], "train_per_class": [3]}, "train_per_class", "1 counts for 2 kept classes"),
    ({"train_per_class": [1, 1, 1, 1, 1, 1, 1, 1, 1, -2]}, "train_per_class", "must be >= 0"),
])
def test_bad_subsets_name_the_argument(digits, kwargs, argument, match):
    with pytest.raises(registry.RegistryError, match=match) as info:
        subset(digits, **kwargs)
    assert f"argument '{argument}'" in str(info.value)
