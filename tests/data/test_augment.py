"""Augmentations: shapes, determinism, jit, and their defining properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.data import (
    IMAGENET_PCA_EIGVALS,
    IMAGENET_PCA_EIGVECS,
    alexnet_crop,
    center_crop,
    inception_crop,
    normalize,
    pca_color_jitter,
    random_crop,
    random_flip,
)

KEY = jax.random.key(0)


def images(n=16, h=10, w=12, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8))


def window_offsets(big, small):
    """All (top, left) where `small` equals a window of `big` (both [H, W, C])."""
    h, w = small.shape[:2]
    return [
        (top, left)
        for top in range(big.shape[0] - h + 1)
        for left in range(big.shape[1] - w + 1)
        if np.array_equal(big[top : top + h, left : left + w], small)
    ]


def test_random_crop_padding_zero_is_identity():
    x = images()
    np.testing.assert_array_equal(random_crop(KEY, x, padding=0), x)


def test_random_crop_takes_windows_of_the_padded_image():
    x = images(n=32)
    out = np.asarray(random_crop(KEY, x, padding=2))
    assert out.shape == x.shape and out.dtype == np.uint8
    padded = np.pad(np.asarray(x), ((0, 0), (2, 2), (2, 2), (0, 0)))
    offsets = [window_offsets(p, o) for p, o in zip(padded, out)]
    assert all(offsets)
    assert len({tuple(o[0]) for o in offsets}) > 5  # Offsets differ per image.


def test_random_crop_with_size_and_reflect():
    x = images()
    out = np.asarray(random_crop(KEY, x, padding=1, size=(6, 7), pad_mode="reflect"))
    assert out.shape == (16, 6, 7, 3)
    padded = np.pad(np.asarray(x), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    assert all(window_offsets(p, o) for p, o in zip(padded, out))


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"size \(20, 20\) exceeds the padded image \(14, 16\)"):
        random_crop(KEY, images(), padding=2, size=20)
    with pytest.raises(ValueError, match=r"images must be NHWC"):
        random_crop(KEY, images()[0], padding=2)


def test_random_flip_twice_with_the_same_key_is_identity():
    x = images()
    once = random_flip(KEY, x)
    np.testing.assert_array_equal(random_flip(KEY, once), x)
    flipped = [not np.array_equal(o, i) for o, i in zip(once, x)]
    for o, i, f in zip(np.asarray(once), np.asarray(x), flipped):
        np.testing.assert_array_equal(o, i[:, ::-1] if f else i)
    assert 0 < sum(flipped) < len(flipped)


def test_random_flip_rate():
    x = jnp.broadcast_to(jnp.arange(4, dtype=jnp.uint8)[None, None, :, None], (2000, 1, 4, 1))
    flipped = np.asarray(random_flip(KEY, x))[:, 0, 0, 0] == 3
    assert 0.45 < flipped.mean() < 0.55


def test_center_crop():
    x = images()
    np.testing.assert_array_equal(center_crop(x, (6, 8)), np.asarray(x)[:, 2:8, 2:10])
    np.testing.assert_array_equal(center_crop(x, 9), np.asarray(x)[:, 0:9, 1:10])
    with pytest.raises(ValueError, match="exceeds the image"):
        center_crop(x, 11)
    with pytest.raises(ValueError, match="size must be a positive int"):
        center_crop(x, (0, 3))


def test_alexnet_crop_is_a_window_possibly_flipped():
    x = images(n=8, h=16, w=16)
    out = np.asarray(alexnet_crop(KEY, x, size=12))
    assert out.shape == (8, 12, 12, 3)
    for i, o in zip(np.asarray(x), out):
        assert window_offsets(i, o) or window_offsets(i, o[:, ::-1])


@pytest.mark.parametrize(
    "fn",
    [
        lambda k, x: random_crop(k, x, padding=3),
        random_flip,
        lambda k, x: alexnet_crop(k, x, size=8),
        lambda k, x: pca_color_jitter(k, x),
    ],
    ids=["random_crop", "random_flip", "alexnet_crop", "pca_color_jitter"],
)
def test_deterministic_and_jittable(fn):
    x = images()
    a, b = fn(KEY, x), jax.jit(fn)(KEY, x)
    np.testing.assert_allclose(a, b, atol=1e-3)
    np.testing.assert_array_equal(fn(KEY, x), a)
    assert not np.array_equal(fn(jax.random.key(1), x), a)


def test_pca_color_jitter_adds_one_pca_shift_per_image():
    x = images(n=2000, h=2, w=2)
    out = np.asarray(pca_color_jitter(KEY, x))
    assert out.dtype == np.float32 and out.shape == x.shape
    shift = out - np.asarray(x, np.float32)
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1, :1], shift.shape), atol=1e-3)
    # Recover alpha = diag(1/eigvals) V^-1 shift / 255: it is N(0, 0.1^2) per component.
    alpha = np.linalg.solve(np.asarray(IMAGENET_PCA_EIGVECS), shift[:, 0, 0].T / 255).T / IMAGENET_PCA_EIGVALS
    np.testing.assert_allclose(alpha.std(axis=0), 0.1, rtol=0.1)
    np.testing.assert_allclose(alpha.mean(axis=0), 0.0, atol=0.01)
    np.testing.assert_allclose(pca_color_jitter(KEY, x, std=0.0), x)


def test_pca_color_jitter_shape_error():
    with pytest.raises(ValueError, match=r"eigvals must be \(1,\)"):
        pca_color_jitter(KEY, images(c=1))


def test_inception_crop_matches_jax_image_scale_and_translate():
    from cnnjax.data.augment import _resize_weights

    x = jnp.asarray(np.random.default_rng(0).uniform(0, 255, (2, 10, 12, 2)), jnp.float32)
    top, left = jnp.array([1.3, 0.0]), jnp.array([3.1, 0.4])
    box_h, box_w = jnp.array([5.5, 10.0]), jnp.array([4.0, 11.6])
    out_h, out_w = 4, 20  # Downsampling rows, upsampling columns.
    ours = jnp.einsum(
        "nih,nhwc,njw->nijc",
        _resize_weights(top, box_h, 10, out_h),
        x,
        _resize_weights(left, box_w, 12, out_w),
        precision="highest",
    )
    for i in range(2):
        scale = jnp.stack([out_h / box_h[i], out_w / box_w[i]])
        expected = jax.image.scale_and_translate(
            x[i], (out_h, out_w, 2), (0, 1), scale, -jnp.stack([top[i], left[i]]) * scale, "linear"
        )
        np.testing.assert_allclose(ours[i], expected, atol=1e-3)


def test_inception_crop_of_whole_square_image_is_a_resize():
    x = images(n=4, h=12, w=12)
    out = inception_crop(KEY, x, size=8, area_range=(1.0, 1.0), aspect_range=(1.0, 1.0))
    expected = jax.image.resize(x.astype(jnp.float32), (4, 8, 8, 3), "linear", antialias=True)
    assert out.dtype == jnp.float32 and out.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(out, expected, atol=1e-3)


def test_inception_crop_is_deterministic_jittable_stays_in_range_and_crops():
    x = images(n=16, h=16, w=16)
    out = np.asarray(inception_crop(KEY, x, size=(9, 11)))
    assert out.shape == (16, 9, 11, 3)
    np.testing.assert_allclose(jax.jit(lambda k, x: inception_crop(k, x, size=(9, 11)))(KEY, x), out, atol=1e-3)
    np.testing.assert_array_equal(inception_crop(KEY, x, size=(9, 11)), out)
    assert not np.array_equal(inception_crop(jax.random.key(1), x, size=(9, 11)), out)
    assert out.min() >= 0 and out.max() <= 255
    # A box covering less than the whole image changes the picture statistics per image.
    full = np.asarray(jax.image.resize(x.astype(jnp.float32), (16, 9, 11, 3), "linear"))
    assert np.abs(out - full).mean() > 10


def test_inception_crop_falls_back_to_a_centred_box():
    rows = jnp.broadcast_to(jnp.arange(8, dtype=jnp.float32)[None, :, None, None], (2, 8, 8, 1))
    # A 4:1 box with the whole area never fits an 8 x 8 image: the fallback is the centred 8 x 2 box
    # [3, 5) (rows 3 and 4), sampled at 3.25, 3.75, 4.25, 4.75 (pixel centres are at row + 0.5).
    out = np.asarray(inception_crop(KEY, rows, size=4, area_range=(1.0, 1.0), aspect_range=(4.0, 4.0)))
    np.testing.assert_allclose(out[:, :, :, 0], np.broadcast_to([[2.75], [3.25], [3.75], [4.25]], (2, 4, 4)), atol=1e-5)


def test_inception_crop_argument_errors():
    with pytest.raises(ValueError, match="area_range"):
        inception_crop(KEY, images(), size=4, area_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="aspect_range"):
        inception_crop(KEY, images(), size=4, aspect_range=(2.0, 1.0))


def test_normalize_values():
    x = jnp.asarray([[[[0, 255, 51]]]], jnp.uint8)
    mean, std = (0.5, 0.25, 0.2), (0.5, 0.25, 0.1)
    out = normalize(x, mean, std)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out[0, 0, 0], [-1.0, 3.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(normalize(x.astype(jnp.float32), mean, std), out)
    np.testing.assert_allclose(normalize(jnp.full((2, 3, 3, 1), 255.0), (0.0,), (1.0,)), 1.0)
    with pytest.raises(ValueError, match=r"one value per channel \(3\), got shapes \(1,\) and \(1,\)"):
        normalize(x, (0.5,), (0.5,))


def test_scale_jitter_crop_at_the_stored_scale_and_full_size_is_the_image():
    from cnnjax.data import scale_jitter_crop

    x = images(n=8, h=10, w=10)
    out = np.asarray(scale_jitter_crop(KEY, x, size=6, scale_range=(10, 10)))
    assert out.shape == (8, 6, 6, 3) and out.dtype == np.float32
    # S = the stored side and a crop of the whole image: the image itself
    whole = np.asarray(scale_jitter_crop(KEY, x, size=10, scale_range=(10, 10)))
    np.testing.assert_allclose(whole, np.asarray(x, np.float32), atol=1e-3)


def test_scale_jitter_crop_larger_scales_zoom_in_and_keys_matter():
    from cnnjax.data import scale_jitter_crop

    ramp = jnp.broadcast_to(jnp.arange(16, dtype=jnp.float32)[None, None, :, None], (4, 16, 16, 3))
    out = np.asarray(scale_jitter_crop(KEY, ramp, size=8, scale_range=(32, 32)))
    # S = 2 x the stored side: an 8-pixel window of the 2x image spans 4 input pixels, so the ramp's step halves
    np.testing.assert_allclose(np.diff(out[:, 4, 1:-1, 0], axis=-1), 0.5, atol=1e-4)
    a = scale_jitter_crop(KEY, images(), size=6, scale_range=(10, 20))
    assert not np.array_equal(a, scale_jitter_crop(jax.random.key(1), images(), size=6, scale_range=(10, 20)))
    with pytest.raises(ValueError, match=r"expected size=6 <= low <= high for scale_range, got \(4, 20\)"):
        scale_jitter_crop(KEY, images(), size=6, scale_range=(4, 20))


def test_color_jitter_strength_zero_is_identity_and_stays_in_range():
    from cnnjax.data import color_jitter

    x = images()
    np.testing.assert_allclose(color_jitter(KEY, x, strength=0.0), np.asarray(x, np.float32), atol=1e-3)
    out = np.asarray(color_jitter(KEY, x, strength=0.5))
    assert out.min() >= 0 and out.max() <= 255 and not np.allclose(out, np.asarray(x, np.float32))
    grey = jnp.full((2, 4, 4, 3), 100, jnp.uint8)  # no colour, no contrast: only brightness changes it
    out = np.asarray(color_jitter(KEY, grey, strength=0.5))
    assert np.allclose(out, out[:, :1, :1, :1], atol=1e-3)
    with pytest.raises(ValueError, match=r"expected RGB images \(3 channels\), got 1"):
        color_jitter(KEY, images(c=1), strength=0.1)
    with pytest.raises(ValueError, match=r"expected strength in \[0, 1\), got 1.5"):
        color_jitter(KEY, x, strength=1.5)
