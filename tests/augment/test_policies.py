"""RandAugment / TrivialAugment ops against closed forms, random erasing, and CutMix's switch to mixup.

The registry-generated checks (shapes, dtypes, eval identity, keys, per-example draws) cover
these names through `EXAMPLES` in test_augment.py.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

import registry
import tricks  # noqa: F401  (registers the components)
from tricks import augment
from tricks.augment._ops import magnitude_table

op = jax.jit(augment.apply_op, static_argnums=(1, 3))


def levels_image(shape=(16, 16, 1)) -> jnp.ndarray:
    """Every 8-bit level k / 255, in order, filling the image (repeating)."""
    return jnp.asarray(np.resize(np.arange(256), shape) / 255.0, jnp.float32)


def test_op_list_is_torchvisions():
    assert augment.OPS == ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
                           "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")


def test_magnitude_tables_are_torchvisions():
    ra = dict(zip(augment.OPS, magnitude_table("randaugment", 31, 28, 20), strict=True))
    np.testing.assert_allclose(ra["ShearX"], np.linspace(0, 0.3, 31), atol=1e-12)
    np.testing.assert_allclose(ra["TranslateX"], np.linspace(0, 150 / 331 * 20, 31))  # width
    np.testing.assert_allclose(ra["TranslateY"], np.linspace(0, 150 / 331 * 28, 31))  # height
    np.testing.assert_allclose(ra["Rotate"], np.linspace(0, 30, 31))
    np.testing.assert_allclose(ra["Sharpness"], np.linspace(0, 0.9, 31))
    np.testing.assert_allclose(ra["Solarize"], np.linspace(255, 0, 31))
    assert ra["Posterize"] == [8 - round(i / 7.5) for i in range(31)] and ra["Posterize"][-1] == 4
    ta = dict(zip(augment.OPS, magnitude_table("trivial_augment", 31, 28, 20), strict=True))
    np.testing.assert_allclose(ta["TranslateY"], np.linspace(0, 32, 31))
    np.testing.assert_allclose(ta["Rotate"], np.linspace(0, 135, 31))
    np.testing.assert_allclose(ta["Color"], np.linspace(0, 0.99, 31))
    assert ta["Posterize"][0] == 8 and ta["Posterize"][-1] == 2


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_solarize_inverts_at_and_above_the_threshold(value_range):
    lo, hi = value_range
    x = lo + levels_image() * (hi - lo)
    levels = np.resize(np.arange(256), x.shape)
    for threshold in (0.0, 100.0, 200.0, 246.5, 255.0):
        expected = np.where(levels >= threshold, lo + hi - x, x)  # uint8 torchvision: v >= threshold
        np.testing.assert_allclose(op(x, "Solarize", threshold, value_range), expected, atol=1e-6)
    assert int((op(x, "Solarize", 255.0, value_range) != x).sum()) == 1  # only the top level (255) flips


@pytest.mark.parametrize("bits", range(1, 9))
def test_posterize_keeps_the_high_bits_of_8_bit_levels(bits):
    x = levels_image()
    expected = (np.arange(256) & (256 - 2 ** (8 - bits))) / 255
    np.testing.assert_allclose(op(x, "Posterize", float(bits), (0.0, 1.0)).ravel(), expected, atol=1e-6)


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 2.0)])
def test_brightness_blends_with_black_and_clips(value_range):
    lo, hi = value_range
    x = jax.random.uniform(jax.random.key(0), (6, 6, 3), minval=lo, maxval=hi)
    for m in (-0.9, -0.3, 0.0, 0.5):
        expected = np.clip(lo + (1 + m) * (np.asarray(x) - lo), lo, hi)
        np.testing.assert_allclose(op(x, "Brightness", m, value_range), expected, atol=1e-6)


def test_color_and_contrast_blend_with_the_luma_image_and_its_mean():
    x = np.asarray(jax.random.uniform(jax.random.key(1), (6, 7, 3)))
    gray = (x @ np.array([0.299, 0.587, 0.114]))[..., None]
    np.testing.assert_allclose(op(x, "Color", -0.6, (0.0, 1.0)), np.clip(gray + 0.4 * (x - gray), 0, 1), atol=1e-6)
    np.testing.assert_allclose(op(x, "Contrast", 0.7, (0.0, 1.0)), np.clip(gray.mean() + 1.7 * (x - gray.mean()), 0, 1),
                               atol=1e-6)
    single = x[..., :1]
    np.testing.assert_array_equal(op(single, "Color", 0.9, (0.0, 1.0)), single)  # grayscale: the identity
    np.testing.assert_allclose(op(single, "Contrast", -0.5, (0.0, 1.0)),
                               single.mean() + 0.5 * (single - single.mean()), atol=1e-6)


def test_sharpness_blends_with_the_smoothed_interior():
    x = np.asarray(jax.random.uniform(jax.random.key(2), (7, 9, 2)))
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13
    degenerate = x.copy()
    for c in range(2):
        degenerate[1:-1, 1:-1, c] = scipy.ndimage.correlate(x[..., c], kernel)[1:-1, 1:-1]
    for m in (-0.9, 0.8):
        expected = np.clip(degenerate + (1 + m) * (x - degenerate), 0, 1)
        np.testing.assert_allclose(op(x, "Sharpness", m, (0.0, 1.0)), expected, atol=1e-6)


def delta(h: int, w: int, row: int, col: int) -> jnp.ndarray:
    return jnp.zeros((h, w, 1)).at[row, col, 0].set(1.0)


@pytest.mark.parametrize(
    "name, m, where",
    [
        ("ShearX", 0.5, (4, 6 - 2)),  # out(x, y) = in(x + m·y, y): column 6 − 0.5·4
        ("ShearX", -0.25, (4, 6 + 1)),
        ("ShearY", 0.5, (4 - 3, 6)),  # out(x, y) = in(x, y + m·x): row 4 − 0.5·6
        ("TranslateX", 1.7, (4, 7)),  # int(1.7) = 1 pixel right
        ("TranslateX", -2.9, (4, 4)),
        ("TranslateY", 3.0, (7, 6)),
        ("TranslateY", -4.2, (0, 6)),
    ],
)
def test_shear_and_translate_move_a_delta_where_the_affine_map_says(name, m, where):
    out = np.asarray(op(delta(8, 9, 4, 6), name, m, (0.0, 1.0)))[..., 0]
    assert np.argwhere(out).tolist() == [list(where)]


def test_geometric_ops_fill_with_the_low_end_of_the_range():
    x = jnp.full((8, 8, 1), 0.5)
    out = np.asarray(op(x, "TranslateX", 3.0, (-1.0, 1.0)))
    np.testing.assert_array_equal(out[:, :3], -1.0)
    np.testing.assert_array_equal(out[:, 3:], 0.5)


def test_rotate_by_90_degrees_is_a_quarter_turn_counter_clockwise():
    x = jax.random.uniform(jax.random.key(3), (7, 7, 2))
    np.testing.assert_array_equal(op(x, "Rotate", 90.0, (0.0, 1.0)), np.rot90(np.asarray(x), 1))
    np.testing.assert_array_equal(op(x, "Rotate", -90.0, (0.0, 1.0)), np.rot90(np.asarray(x), -1))
    np.testing.assert_array_equal(op(x, "Rotate", 0.0, (0.0, 1.0)), x)


def test_autocontrast_stretches_each_channel_and_keeps_a_constant_one():
    x = np.stack([np.linspace(0.2, 0.6, 16).reshape(4, 4), np.full((4, 4), 0.3)], axis=-1).astype(np.float32)
    out = np.asarray(op(x, "AutoContrast", 0.0, (0.0, 1.0)))
    np.testing.assert_allclose(out[..., 0], (x[..., 0] - 0.2) / 0.4, atol=1e-6)
    np.testing.assert_array_equal(out[..., 1], x[..., 1])


def test_equalize_of_a_known_histogram():
    # Four levels, 256 pixels each: step = (1024 − 256) // 255 = 3 and lut[k] = (cumsum[k − 1] + 1) // 3,
    # so 0 -> 0, 85 -> (256 + 1) // 3 = 85, 170 -> (512 + 1) // 3 = 171, 255 -> min(769 // 3, 255) = 255.
    x = np.repeat(np.array([0, 85, 170, 255]), 256).reshape(32, 32, 1) / 255
    out = np.asarray(op(x, "Equalize", 0.0, (0.0, 1.0)))
    np.testing.assert_allclose(np.unique(out * 255), [0, 85, 171, 255], atol=1e-4)
    small = levels_image((8, 8, 1))  # fewer than 256 pixels: step 0, unchanged
    np.testing.assert_array_equal(op(small, "Equalize", 0.0, (0.0, 1.0)), small)


def numpy_equalize(channel: np.ndarray) -> np.ndarray:
    """torchvision's ``_scale_channel`` on uint8 levels, transcribed."""
    hist = np.bincount(channel.ravel(), minlength=256)
    nonzero = hist[hist != 0]
    step = nonzero[:-1].sum() // 255
    if step == 0:
        return channel
    lut = (np.cumsum(hist) + step // 2) // step
    lut = np.clip(np.concatenate([[0], lut[:-1]]), 0, 255)
    return lut[channel]


def test_equalize_matches_a_transcription_of_torchvision():
    rng = np.random.default_rng(0)
    levels = np.clip(rng.normal(90, 30, (28, 28, 3)), 0, 255).astype(np.int64)
    out = np.asarray(op(jnp.asarray(levels / 255, jnp.float32), "Equalize", 0.0, (0.0, 1.0)))
    expected = np.stack([numpy_equalize(levels[..., c]) for c in range(3)], axis=-1)
    np.testing.assert_allclose(out * 255, expected, atol=1e-3)


def candidates(x: jnp.ndarray, magnitudes: list) -> np.ndarray:
    """Every (op, ±magnitude) output for each image: (N, K, H, W, C)."""
    ops, ms = zip(*[(k, s * m) for k in range(len(augment.OPS)) for m in magnitudes[k] for s in (1, -1)],
                  strict=True)
    one = jax.vmap(lambda image, k, m: augment.apply_op(image, k, m), in_axes=(None, 0, 0))
    every = jax.jit(jax.vmap(one, in_axes=(0, None, None)))
    return np.asarray(every(x, jnp.array(ops), jnp.array(ms, jnp.float32)))


@pytest.mark.parametrize("spec, bins", [("randaugment(num_ops=1, magnitude=9)", [9]),
                                        ("trivial_augment(num_magnitude_bins=3)", [0, 1, 2])])
def test_each_output_is_one_op_at_a_listed_magnitude(spec, bins):
    x = jax.random.uniform(jax.random.key(4), (48, 8, 8, 3))
    aug = registry.build("augment", spec)
    out = np.asarray(jax.jit(lambda b, k: aug(b, k, True))(x, jax.random.key(5)))
    table = magnitude_table(type(aug).name, aug.num_magnitude_bins, 8, 8)
    cands = candidates(x, [[row[b] for b in bins] for row in table])
    matches = np.all(np.isclose(cands, out[:, None], atol=1e-6), axis=(2, 3, 4))
    assert matches.any(axis=1).all()
    unique = matches.sum(axis=1) == 1  # a signed op at a magnitude that no other candidate gives
    assert {int(k) % 2 for k in matches[unique].argmax(axis=1)} == {0, 1}  # both signs drawn
    changed = ~np.all(np.isclose(out, x, atol=1e-6), axis=(1, 2, 3))
    assert 20 < changed.sum() < 48  # Identity (and magnitude 0) leave some examples unchanged


def test_randaugment_keeps_the_value_range_and_zero_ops_is_the_identity():
    x = jax.random.uniform(jax.random.key(6), (64, 10, 10, 3))
    out = jax.jit(lambda b: augment.randaugment(num_ops=3, magnitude=30)(b, jax.random.key(0), True))(x)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    np.testing.assert_array_equal(augment.randaugment(num_ops=0)(x, jax.random.key(0), True), x)


@functools.cache
def fashion_like(n=8):
    return {"image": jax.random.uniform(jax.random.key(7), (n, 28, 28, 1)), "label": jnp.eye(n)}


@pytest.mark.parametrize("name", ["randaugment", "trivial_augment", "random_erasing"])
def test_grayscale_images_work_and_signals_are_refused_with_their_shape(name):
    aug = registry.build("augment", name)
    out = jax.jit(lambda b, k: aug(b, k, True))(fashion_like(), jax.random.key(0))
    assert out["image"].shape == (8, 28, 28, 1)
    with pytest.raises(ValueError, match=r"\(4, 40\)"):
        aug({"image": jnp.ones((4, 40)), "label": jnp.eye(4)}, jax.random.key(0), True)


def test_policies_refuse_images_smaller_than_3x3():
    with pytest.raises(ValueError, match="3×3"):
        augment.trivial_augment()(jnp.ones((2, 2, 2, 1)), jax.random.key(0), True)


# --- random erasing ----------------------------------------------------------------------


def test_random_erasing_erases_one_rectangle_within_the_scale_range():
    aug = augment.random_erasing(probability=0.7, scale=(0.05, 0.3), ratio=(0.5, 2.0), value=-3.0)
    x = jnp.ones((2000, 20, 24, 2))
    out = np.asarray(jax.jit(lambda b, k: aug(b, k, True))(x, jax.random.key(0)))
    erased = out == -3.0
    assert np.all(erased.all(axis=-1) == erased.any(axis=-1)) and np.all(out[~erased] == 1)
    mask = erased[..., 0]
    count = mask.sum(axis=(1, 2))
    hit = count > 0
    assert abs(hit.mean() - 0.7) < 4 * np.sqrt(0.7 * 0.3 / 2000)
    for m in mask[hit][:300]:
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        assert m.sum() == len(rows) * len(cols) and len(rows) < 20 and len(cols) < 24  # one rectangle
        assert rows[-1] - rows[0] + 1 == len(rows) and cols[-1] - cols[0] + 1 == len(cols)
    share = count[hit] / (20 * 24)
    slack = 0.03  # sides are rounded to whole pixels
    assert share.min() > 0.05 - slack and share.max() < 0.3 + slack


def torchvision_get_params(h: int, w: int, scale, ratio, rng: np.random.Generator):
    """torchvision's ``RandomErasing.get_params`` (10 attempts), transcribed: the erased area or 0."""
    for _ in range(10):
        area = h * w * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        eh, ew = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if eh < h and ew < w:
            return eh * ew
    return 0


def test_random_erasing_area_matches_torchvisions_sampling():
    # Wide scale and ratio on a small image, so that attempts fail often: the mean area and the
    # share never erased match the transcription's, within 4 standard errors.
    h, w, scale, ratio = 6, 10, (0.2, 0.9), (0.3, 3.3)
    rng = np.random.default_rng(0)
    reference = np.array([torchvision_get_params(h, w, scale, ratio, rng) for _ in range(20000)]) / (h * w)
    aug = augment.random_erasing(probability=1.0, scale=scale, ratio=ratio)
    out = np.asarray(aug(jnp.ones((8000, h, w, 1)), jax.random.key(1), True))
    share = (out == 0).mean(axis=(1, 2, 3))
    for a, b in ((share, reference), (share == 0, reference == 0)):
        tolerance = 4 * np.hypot(a.std() / np.sqrt(a.size), b.std() / np.sqrt(b.size))
        assert abs(a.mean() - b.mean()) < tolerance, (a.mean(), b.mean())


def test_random_erasing_random_values_are_per_pixel_or_per_channel():
    x = jnp.full((256, 12, 12, 3), 7.0)
    pixel = np.asarray(augment.random_erasing(1.0, value="random")(x, jax.random.key(0), True))
    channel = np.asarray(augment.random_erasing(1.0, value="channel")(x, jax.random.key(0), True))
    for out, per_pixel in ((pixel, True), (channel, False)):
        values = out[out != 7.0].reshape(-1, 3)
        assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1
        for image in out[:20]:
            inside = image[(image != 7.0).all(axis=-1)]
            assert len(np.unique(inside[:, 0])) == (len(inside) if per_pixel else 1)


# --- CutMix with a switch to mixup -------------------------------------------------------


def classify(batch: dict, out: dict) -> str:
    """'cutmix' if every pixel is the example's or its partner's, 'mixup' if images are blends."""
    x, image, y = (np.asarray(a) for a in (batch["image"], out["image"], out["label"]))
    kinds = set()
    for i in range(len(x)):
        partners = [j for j in np.flatnonzero(y[i] > 1e-6) if j != i]
        if not partners:
            continue
        (j,) = partners
        lam = y[i, i]
        if np.allclose(image[i], lam * x[i] + (1 - lam) * x[j], atol=1e-5):
            kinds.add("mixup")
        else:
            own, theirs = np.isclose(image[i], x[i]).all(-1), np.isclose(image[i], x[j]).all(-1)
            assert (own | theirs).all()
            np.testing.assert_allclose(y[i, j], theirs.sum() / theirs.size, rtol=1e-6)  # area = 1 − λ'
            kinds.add("cutmix")
    assert len(kinds) == 1, kinds
    return kinds.pop()


def test_cutmix_switch_prob_picks_mixup_per_batch():
    batch = {"image": jax.random.uniform(jax.random.key(0), (8, 6, 6, 2)), "label": jnp.eye(8)}
    for switch_prob, expected in ((0.0, {"cutmix"}), (1.0, {"mixup"})):
        aug = augment.cutmix(1.0, switch_prob=switch_prob, mixup_alpha=0.5)
        step = jax.jit(lambda b, k, aug=aug: aug(b, k, True))
        assert {classify(batch, step(batch, jax.random.key(k))) for k in range(5)} == expected
    aug = jax.jit(lambda b, k: augment.cutmix(switch_prob=0.5)(b, k, True))
    kinds = [classify(batch, aug(batch, jax.random.key(k))) for k in range(60)]
    assert 15 < kinds.count("mixup") < 45


def test_cutmix_switch_keeps_labels_probability_vectors():
    batch = fashion_like(16)
    out = jax.jit(lambda b: augment.cutmix(switch_prob=0.5, mixup_alpha=0.8)(b, jax.random.key(3), True))(batch)
    np.testing.assert_allclose(out["label"].sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    "spec, argument",
    [
        ("randaugment(num_ops=-1)", "num_ops"),
        ("randaugment(magnitude=31)", "magnitude"),
        ("randaugment(num_magnitude_bins=1, magnitude=0)", "num_magnitude_bins"),
        ("trivial_augment(value_range=[1.0, 0.0])", "value_range"),
        ("random_erasing(probability=1.5)", "probability"),
        ("random_erasing(scale=[0.5, 0.2])", "scale"),
        ("random_erasing(ratio=[0.0, 1.0])", "ratio"),
        ("random_erasing(value='noise')", "value"),
        ("cutmix(switch_prob=2.0)", "switch_prob"),
        ("cutmix(mixup_alpha=0.0)", "mixup_alpha"),
    ],
)
def test_bad_arguments_raise_registry_errors(spec, argument):
    with pytest.raises(registry.RegistryError, match=argument):
        registry.build("augment", spec)
