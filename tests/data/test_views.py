"""Evaluation views: exact crops of small arrays, flips, scales, and their errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax.data import EVAL_CROPS, crop_offsets, crop_views, eval_views, five_crops, rescale, ten_crops


def arange_image(n=1, h=6, w=6, c=1):
    return jnp.arange(n * h * w * c, dtype=jnp.float32).reshape(n, h, w, c)


def test_ten_crops_of_a_6x6_image_are_the_corner_and_centre_slices_then_their_flips():
    x = arange_image()
    m = np.asarray(x[0, :, :, 0])
    expected = [m[0:4, 0:4], m[0:4, 2:6], m[2:6, 0:4], m[2:6, 2:6], m[1:5, 1:5]]
    expected += [e[:, ::-1] for e in expected]
    out = np.asarray(ten_crops(x, 4))
    assert out.shape == (10, 1, 4, 4, 1)
    for view, e in zip(out, expected):
        np.testing.assert_array_equal(view[0, :, :, 0], e)


def test_crop_offsets_of_an_odd_margin_put_the_centre_down_and_right_like_center_crop():
    assert crop_offsets(7, 9, 4) == ((0, 0), (0, 5), (3, 0), (3, 5), (1, 2))
    with pytest.raises(ValueError, match=r"size 8 exceeds the image \(7, 9\)"):
        crop_offsets(7, 9, 8)


def test_crop_views_counts_and_the_centre_flip_pair():
    x = arange_image(n=2, h=5, w=7, c=3)
    for crops, count in EVAL_CROPS.items():
        assert crop_views(x, 3, crops).shape == (count, 2, 3, 3, 3)
    center, flipped = np.asarray(crop_views(x, 3, "center_flip"))
    np.testing.assert_array_equal(center, np.asarray(x)[:, 1:4, 2:5])
    np.testing.assert_array_equal(flipped, center[:, :, ::-1])
    np.testing.assert_array_equal(five_crops(x, 3)[4], center)
    with pytest.raises(ValueError, match=r"crops: expected one of \['center', 'center_flip', 'ten'\], got 'six'"):
        crop_views(x, 3, "six")


def test_rescale_to_the_same_size_is_the_identity_and_doubling_keeps_constant_images():
    x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, 6, 8, 3), dtype=np.uint8))
    np.testing.assert_allclose(rescale(x, 6), np.asarray(x, np.float32), atol=1e-4)
    assert rescale(x, 12).shape == (2, 12, 16, 3)
    flat = jnp.full((1, 4, 4, 3), 7, jnp.uint8)
    np.testing.assert_allclose(rescale(flat, 8), 7.0, atol=1e-4)


def test_eval_views_concatenate_scales_scale_major():
    x = jnp.asarray(np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8))
    views = eval_views(x, size=6, crops="center_flip", scales=(8, 12))
    assert views.shape == (4, 3, 6, 6, 3) and views.dtype == jnp.float32
    np.testing.assert_allclose(views[:2], crop_views(x, 6, "center_flip").astype(jnp.float32), atol=1e-4)
    np.testing.assert_allclose(views[2:], crop_views(rescale(x, 12), 6, "center_flip"), atol=1e-4)
    plain = eval_views(x, size=6)
    assert plain.shape == (1, 3, 6, 6, 3) and plain.dtype == jnp.uint8
    np.testing.assert_array_equal(jax.jit(lambda x: eval_views(x, size=6, crops="ten"))(x), ten_crops(x, 6))
    with pytest.raises(ValueError, match=r"every scale must be >= the crop size 6, got \[4, 8\]"):
        eval_views(x, size=6, scales=(4, 8))
