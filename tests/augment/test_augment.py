"""Augmentations, generated over the registry: convention, per-example randomness, eval identity."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

import registry
import tricks  # noqa: F401  (registers the components)
from tricks import augment

N, H, W, C, CLASSES = 16, 8, 10, 3, 16

# name -> (example spec, acts at evaluation). Every registered augmentation needs an entry.
EXAMPLES = {
    "brightness": ("brightness(0.3)", False),
    "contrast": ("contrast(0.5, 1.5)", False),
    "cutmix": ("cutmix(1.0, switch_prob=0.5, mixup_alpha=0.8)", False),
    "cutout": ("cutout(3)", False),
    "mixup": ("mixup(1.0)", False),
    "normalize": ("normalize(mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.5])", True),
    "random_crop": ("random_crop(padding=2, mode='reflect')", False),
    "random_erasing": ("random_erasing(probability=0.5, value='random')", False),
    "random_flip": ("random_flip", False),
    "random_resized_crop": ("random_resized_crop(size=[6, 7], scale=[0.2, 1.0])", True),
    "randaugment": ("randaugment(num_ops=2, magnitude=9)", False),
    "saturation": ("saturation(0.0, 2.0)", False),
    "trivial_augment": ("trivial_augment(num_magnitude_bins=31)", False),
}
RANDOM = [n for n in registry.names("augment") if n != "normalize"]
MIXING = {"cutmix", "mixup"}  # (identical inputs mix into the same image: their draw shows in the labels)


def make_batch(copies: bool = False) -> dict:
    """Random images and distinct one-hot labels; with `copies`, every image is the first one."""
    images = jax.random.uniform(jax.random.key(0), (N, H, W, C))
    if copies:
        images = jnp.broadcast_to(images[:1], images.shape)
    return {"image": images, "label": jax.nn.one_hot(jnp.arange(N), CLASSES), "index": jnp.arange(N)}


@functools.cache
def jitted(name: str, train: bool):
    aug = registry.build("augment", EXAMPLES[name][0])
    return jax.jit(lambda batch, key: aug(batch, key, train))


def test_every_registered_augmentation_has_an_example():
    assert sorted(EXAMPLES) == registry.names("augment")


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", registry.names("augment"))
def test_jitted_output_keeps_keys_dtypes_and_label_shape(name, train):
    batch = make_batch()
    out = jitted(name, train)(batch, jax.random.key(1))
    assert sorted(out) == sorted(batch)
    assert out["image"].dtype == jnp.float32 and out["label"].dtype == jnp.float32
    assert out["image"].shape[0] == N and out["image"].shape[-1] == C
    if name != "random_resized_crop":
        assert out["image"].shape == batch["image"].shape
    assert out["label"].shape == batch["label"].shape
    np.testing.assert_array_equal(out["index"], batch["index"])
    np.testing.assert_allclose(out["label"].sum(axis=1), 1.0, rtol=1e-6)
    assert bool((out["label"] >= 0).all())
    assert bool(jnp.isfinite(out["image"]).all())


@pytest.mark.parametrize("name", registry.names("augment"))
def test_identity_at_evaluation_unless_documented(name):
    batch = make_batch()
    out = jitted(name, False)(batch, jax.random.key(1))
    if EXAMPLES[name][1]:
        assert out["image"].shape != batch["image"].shape or bool(jnp.any(out["image"] != batch["image"]))
    else:
        np.testing.assert_array_equal(out["image"], batch["image"])
        np.testing.assert_array_equal(out["label"], batch["label"])


@pytest.mark.parametrize("name", RANDOM)
def test_each_example_gets_its_own_draw(name):
    # Identical images: the outputs differ only through per-example randomness (one draw
    # shared by the batch would give identical outputs). Mixup blends identical images into
    # the same image, so its per-example draw shows in the labels (CutMix's too).
    out = jitted(name, True)(make_batch(copies=True), jax.random.key(2))
    values = jnp.sort(out["label"], axis=1) if name in MIXING else out["image"]
    distinct = {np.asarray(v).tobytes() for v in values}
    assert len(distinct) > 1, f"{name}: the same output for {N} identical inputs"


@pytest.mark.parametrize("name", RANDOM)
def test_the_key_decides_the_draw(name):
    batch = make_batch()
    a, b = (jitted(name, True)(batch, jax.random.key(k)) for k in (3, 4))
    again = jitted(name, True)(batch, jax.random.key(3))
    np.testing.assert_array_equal(a["image"], again["image"])
    assert bool(jnp.any(a["image"] != b["image"]))


def test_train_must_be_a_python_bool():
    with pytest.raises(TypeError, match="Python bool"):
        augment.random_flip()(make_batch(), jax.random.key(0), jnp.array(True))


# --- one augmentation at a time -------------------------------------------------------


def test_random_flip_mirrors_with_the_given_probability():
    batch = make_batch()
    x = batch["image"]
    mirrored = x[:, :, ::-1]
    np.testing.assert_array_equal(augment.random_flip(1.0)(batch, jax.random.key(0), True)["image"], mirrored)
    np.testing.assert_array_equal(augment.random_flip(0.0)(batch, jax.random.key(0), True)["image"], x)
    out = jitted("random_flip", True)(batch, jax.random.key(5))["image"]
    flipped = np.all(out == mirrored, axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == x, axis=(1, 2, 3)))
    assert 0 < flipped.sum() < N


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_random_crop_takes_a_window_of_the_padded_image(mode):
    batch, p = make_batch(), 2
    out = np.asarray(augment.random_crop(p, mode)(batch, jax.random.key(0), True)["image"])
    padded = np.pad(np.asarray(batch["image"]), ((0, 0), (p, p), (p, p), (0, 0)), mode=mode)
    offsets = set()
    for i in range(N):
        found = [
            (dy, dx)
            for dy in range(2 * p + 1)
            for dx in range(2 * p + 1)
            if np.array_equal(padded[i, dy : dy + H, dx : dx + W], out[i])
        ]
        assert found, f"example {i} is not a window of its padded image"
        offsets.add(found[0])
    assert len(offsets) > 3


def bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Reference resize: scipy's linear zoom with half-pixel centers and clamped edges.

    It agrees with ``jax.image.resize(..., "linear", antialias=False)``.
    """
    h, w = image.shape[:2]
    return scipy.ndimage.zoom(image, (size[0] / h, size[1] / w, 1), order=1, grid_mode=True, mode="nearest")


def test_resize_boxes_is_crop_then_bilinear_resize():
    x = jax.random.uniform(jax.random.key(0), (2, 12, 12, 2))
    corner, box = jnp.array([[2, 3], [0, 0]]), jnp.array([[5, 7], [12, 12]])
    out = jax.jit(augment.resize_boxes, static_argnums=3)(x, corner, box, (10, 14))
    x = np.asarray(x)
    expected = [bilinear(x[0, 2:7, 3:10], (10, 14)), bilinear(x[1], (10, 14))]  # up- and downscaling
    np.testing.assert_allclose(out, np.stack(expected), atol=1e-5)


def test_random_resized_crop_boxes_respect_scale_and_ratio():
    aug = augment.random_resized_crop(scale=(0.25, 0.5), ratio=(0.5, 2.0))
    corner, box = map(
        np.asarray, jax.jit(aug.sample_boxes, static_argnums=(1, 2, 3))(jax.random.key(0), 2000, 64, 48)
    )
    assert np.all(corner >= 0) and np.all(corner + box <= [64, 48])
    area = box[:, 0] * box[:, 1] / (64 * 48)
    aspect = box[:, 1] / box[:, 0]
    slack = 0.06  # boxes are rounded to whole pixels
    assert area.min() > 0.25 - slack and area.max() < 0.5 + slack
    assert aspect.min() > 0.5 * (1 - slack) and aspect.max() < 2.0 * (1 + slack)
    assert len({tuple(b) for b in box}) > 100 and len({tuple(c) for c in corner}) > 100


def test_random_resized_crop_falls_back_to_a_center_crop_when_nothing_fits():
    # A 4×40 strip cannot hold a box of ratio <= 2 covering >= 90% of it.
    aug = augment.random_resized_crop(scale=(0.9, 1.0), ratio=(1.0, 2.0))
    corner, box = jax.jit(aug.sample_boxes, static_argnums=(1, 2, 3))(jax.random.key(0), 8, 4, 40)
    np.testing.assert_array_equal(box, np.tile([4, 8], (8, 1)))  # height 4, width 4 * max ratio


def test_random_resized_crop_evaluates_with_a_center_crop():
    batch = make_batch()
    evaluate = jax.jit(lambda b: augment.random_resized_crop(eval_crop=0.5)(b, jax.random.key(0), False))
    out = evaluate(batch)["image"]
    expected = [bilinear(image, (H, W)) for image in np.asarray(batch["image"])[:, 2:6, 2:7]]
    np.testing.assert_allclose(out, np.stack(expected), atol=1e-5)
    same = augment.random_resized_crop(eval_crop=1.0)(batch, jax.random.key(0), False)["image"]
    np.testing.assert_array_equal(same, batch["image"])


def test_normalize_is_the_same_in_training_and_evaluation():
    batch = make_batch()
    mean, std = np.array([0.5, 0.4, 0.3]), np.array([0.2, 0.25, 0.5])
    expected = (np.asarray(batch["image"]) - mean) / std
    for train in (True, False):
        np.testing.assert_allclose(
            jitted("normalize", train)(batch, jax.random.key(0))["image"], expected, atol=1e-6
        )


def test_normalize_works_on_1d_signals():
    batch = {"image": jnp.ones((4, 40)), "label": jnp.eye(4)}
    out = augment.normalize(mean=1.0, std=2.0)(batch, jax.random.key(0), False)
    np.testing.assert_array_equal(out["image"], jnp.zeros((4, 40)))


def test_brightness_shifts_each_example_by_one_bounded_delta():
    batch = make_batch()
    delta = np.asarray(jitted("brightness", True)(batch, jax.random.key(0))["image"] - batch["image"])
    per_example = delta[:, 0, 0, 0]
    np.testing.assert_allclose(
        delta, np.broadcast_to(per_example[:, None, None, None], delta.shape), atol=1e-6
    )
    assert np.abs(per_example).max() <= 0.3 and len(np.unique(per_example)) == N


def test_contrast_keeps_each_channel_mean():
    batch = make_batch()
    out = jitted("contrast", True)(batch, jax.random.key(0))["image"]
    np.testing.assert_allclose(out.mean(axis=(1, 2)), batch["image"].mean(axis=(1, 2)), atol=1e-5)


def test_saturation_zero_is_grayscale_and_gray_images_refuse_it():
    batch = make_batch()
    gray = augment.saturation(0.0, 0.0)(batch, jax.random.key(0), True)["image"]
    expected = np.asarray(batch["image"]) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(gray, np.repeat(expected[..., None], 3, axis=-1), rtol=1e-5)
    with pytest.raises(ValueError, match="3 channels"):
        augment.saturation()({"image": jnp.ones((2, 4, 4, 1)), "label": jnp.eye(2)}, jax.random.key(0), True)


def test_cutout_zeroes_at_most_one_square_per_example():
    batch = {"image": jnp.ones((64, 12, 12, 2)), "label": jnp.eye(64)}
    out = np.asarray(jax.jit(lambda b: augment.cutout(4)(b, jax.random.key(0), True))(batch)["image"])
    zeros = (out == 0).all(axis=-1)
    for mask in zeros:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert 0 < len(rows) <= 4 and 0 < len(cols) <= 4
        assert mask.sum() == len(rows) * len(cols)  # a (clipped) rectangle
    assert (zeros.sum(axis=(1, 2)) == 16).sum() > 10 and (zeros.sum(axis=(1, 2)) < 16).sum() > 5


def test_mixup_blends_images_and_labels_with_the_same_lambda():
    batch = make_batch()
    out = jitted("mixup", True)(batch, jax.random.key(0))
    x, y = np.asarray(batch["image"]), np.asarray(out["label"])
    lambdas = []
    for i in range(N):
        partner = [j for j in np.flatnonzero(y[i] > 1e-6) if j != i]
        lam = y[i, i]
        expected = lam * x[i] + (1 - lam) * x[partner[0]] if partner else x[i]
        np.testing.assert_allclose(out["image"][i], expected, atol=1e-5)
        lambdas.append(lam)
    assert len(set(np.round(lambdas, 6))) > N // 2


@pytest.mark.parametrize(
    "spec, argument",
    [
        ("random_flip(probability=1.5)", "probability"),
        ("random_crop(padding=-1)", "padding"),
        ("random_crop(mode='wrap')", "mode"),
        ("random_resized_crop(scale=[0.5, 0.2])", "scale"),
        ("random_resized_crop(ratio=[0.0, 1.0])", "ratio"),
        ("random_resized_crop(size=[0, 4])", "size"),
        ("random_resized_crop(eval_crop=0.0)", "eval_crop"),
        ("normalize(std=0.0)", "std"),
        ("brightness(max_delta=-0.1)", "max_delta"),
        ("contrast(lower=1.5, upper=0.5)", "lower"),
        ("cutout(size=0)", "size"),
        ("mixup(alpha=0.0)", "alpha"),
        ("cutmix(alpha=-1.0)", "alpha"),
    ],
)
def test_bad_arguments_raise_registry_errors(spec, argument):
    with pytest.raises(registry.RegistryError, match=argument) as err:
        registry.build("augment", spec)
    assert err.value.kind == "augment"


def test_compose_applies_in_order_with_split_keys():
    batch = make_batch()
    flip, norm = augment.random_flip(), augment.normalize(0.5, 0.25)
    composed = augment.compose([flip, "normalize(mean=0.5, std=0.25)"])
    k_flip, k_norm = jax.random.split(jax.random.key(7))
    expected = norm(flip(batch, k_flip, True), k_norm, True)
    out = composed(batch, jax.random.key(7), True)
    np.testing.assert_array_equal(out["image"], expected["image"])
    np.testing.assert_array_equal(
        composed(batch, jax.random.key(7), False)["image"], (batch["image"] - 0.5) / 0.25
    )
    assert augment.compose([])(batch, jax.random.key(0), True) is batch


def test_compose_refuses_what_is_not_an_augmentation():
    with pytest.raises(registry.RegistryError, match="unknown name"):
        augment.compose(["random_flop"])
    with pytest.raises(registry.RegistryError, match="expected an augmentation"):
        augment.compose([3])


def test_a_non_image_batch_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"\(4, 40\)"):
        augment.random_crop()({"image": jnp.ones((4, 40)), "label": jnp.eye(4)}, jax.random.key(0), True)


def test_cutmix_pastes_one_box_of_the_partner_and_mixes_labels_by_its_area():
    # Against the authors' rand_bbox: the box is a rectangle of the partner's pixels,
    # clipped at the borders, of side 2 * (floor(side * sqrt(1 - lam)) // 2) before
    # clipping; the label keeps 1 - box area / image area of the example's own class.
    batch = make_batch()
    out = jax.jit(lambda b: augment.cutmix(1.0)(b, jax.random.key(5), True))(batch)
    x, image, y = np.asarray(batch["image"]), np.asarray(out["image"]), np.asarray(out["label"])
    kept = []
    for i in range(N):
        partners = [j for j in np.flatnonzero(y[i] > 1e-6) if j != i]
        pasted = ~np.isclose(image[i], x[i]).all(axis=-1)
        if not partners:  # an empty box, or the example drew itself
            assert y[i, i] == 1
            np.testing.assert_array_equal(image[i], x[i])
            continue
        (j,) = partners
        rows, cols = np.flatnonzero(pasted.any(axis=1)), np.flatnonzero(pasted.any(axis=0))
        assert pasted.sum() == len(rows) * len(cols)  # one rectangle
        assert rows[-1] - rows[0] + 1 == len(rows) and cols[-1] - cols[0] + 1 == len(cols)
        np.testing.assert_array_equal(image[i][pasted], x[j][pasted])
        np.testing.assert_array_equal(image[i][~pasted], x[i][~pasted])
        np.testing.assert_allclose(y[i, j], pasted.sum() / (H * W), rtol=1e-6)
        np.testing.assert_allclose(y[i, i], 1 - pasted.sum() / (H * W), rtol=1e-6)
        unclipped = [len(r) for r, edge in ((rows, H), (cols, W)) if 0 < r[0] and r[-1] < edge - 1]
        assert all(size % 2 == 0 for size in unclipped)
        kept.append(y[i, i])
    assert len(kept) > N // 2 and len(set(np.round(kept, 6))) > 3


def rand_bbox(size: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """The authors' box (clovaai/CutMix-PyTorch train.py, rand_bbox), for a square image."""
    cut = int(size * np.sqrt(1.0 - lam))
    cx, cy = rng.integers(size), rng.integers(size)
    return (np.clip(cx - cut // 2, 0, size), np.clip(cy - cut // 2, 0, size), np.clip(cx + cut // 2, 0, size),
            np.clip(cy + cut // 2, 0, size))


def test_cutmix_pasted_share_matches_the_authors_boxes():
    # The share of pasted pixels over 2048 examples against 20000 draws of the authors'
    # rand_bbox with lam ~ Beta(alpha, alpha): the same mean within 4 standard errors.
    size, rng = 32, np.random.default_rng(0)
    for alpha in (1.0, 0.3):
        boxes = [rand_bbox(size, lam, rng) for lam in rng.beta(alpha, alpha, 20000)]
        reference = np.array([(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in boxes]) / size**2
        batch = {"image": jnp.zeros((2048, size, size, 1)), "label": jnp.eye(2048)}
        share = 1 - np.asarray(jnp.diagonal(augment.cutmix(alpha)(batch, jax.random.key(1), True)["label"]))
        tolerance = 4 * np.hypot(share.std() / np.sqrt(share.size), reference.std() / np.sqrt(reference.size))
        assert abs(share.mean() - reference.mean()) < tolerance, (alpha, share.mean(), reference.mean())


def test_mixup_needs_probability_vector_labels():
    with pytest.raises(ValueError, match="num_classes"):
        augment.mixup()({"image": jnp.ones((4, 2, 2, 1)), "label": jnp.arange(4.0)}, jax.random.key(0), True)


def test_an_image_array_goes_in_and_comes_out_as_an_array():
    images = jnp.linspace(0.0, 1.0, 4 * 8 * 8).reshape(4, 8, 8, 1)
    for spec in ("random_crop(padding=2)", "random_flip(probability=1.0)", "normalize(mean=0.5, std=0.25)"):
        aug = registry.build("augment", spec)
        out = aug(images, jax.random.key(0), True)
        expected = aug({"image": images, "label": jnp.eye(4)}, jax.random.key(0), True)["image"]
        assert isinstance(out, jax.Array) and out.shape == images.shape
        np.testing.assert_array_equal(out, expected)
    composed = augment.compose(["random_flip(probability=1.0)", "normalize(mean=0.5, std=0.25)"])
    np.testing.assert_allclose(composed(images, jax.random.key(0), True), (images[:, :, ::-1] - 0.5) / 0.25,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="mixup mixes labels too"):
        registry.build("augment", "mixup")(images, jax.random.key(0), True)
    with pytest.raises(TypeError, match="a batch dict or an image array"):
        registry.build("augment", "random_flip")([[1.0]], jax.random.key(0), True)
