"""HOG-like descriptors against a NumPy reference written loop by loop from the definitions."""

import jax.numpy as jnp
import numpy as np
import pytest

from experiments.progression import hog as H

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
SOBEL_Y = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], np.float64)


def reference_hog(image: np.ndarray, spec: H.HogSpec) -> np.ndarray:
    """One (H, W) image -> its descriptor, by explicit loops."""
    h, w = image.shape
    p = np.pad(image.astype(np.float64), 1, mode="edge")
    gx = np.array([[np.sum(p[i : i + 3, j : j + 3] * SOBEL_X) for j in range(w)] for i in range(h)])
    gy = np.array([[np.sum(p[i : i + 3, j : j + 3] * SOBEL_Y) for j in range(w)] for i in range(h)])
    n, period = spec.orientations, (2 * np.pi if spec.signed else np.pi)
    votes = np.zeros((h, w, n))
    for i in range(h):
        for j in range(w):
            pos = (np.arctan2(gy[i, j], gx[i, j]) % period) / period * n
            lo = int(np.floor(pos))
            frac = pos - lo
            votes[i, j, lo % n] += (1 - frac) * np.hypot(gx[i, j], gy[i, j])
            votes[i, j, (lo + 1) % n] += frac * np.hypot(gx[i, j], gy[i, j])

    def weight(x, k, c):
        if not spec.spatial_interp:
            return float(k * c <= x < (k + 1) * c)
        return max(0.0, 1 - abs(x - ((k + 0.5) * c - 0.5)) / c)

    parts = []
    for c in spec.cells:
        ny, nx = h // c, w // c
        cells = np.zeros((ny, nx, n))
        for a in range(ny):
            for b in range(nx):
                for i in range(h):
                    for j in range(w):
                        cells[a, b] += weight(i, a, c) * weight(j, b, c) * votes[i, j]
        b = spec.block
        for a in range(ny - b + 1):
            for bb in range(nx - b + 1):
                v = np.concatenate([cells[a + di, bb + dj] for di in range(b) for dj in range(b)])
                eps2 = (1e-3 * np.sqrt(v.size)) ** 2
                v = v / np.sqrt(np.sum(v**2) + eps2)
                if spec.norm == "l2hys":
                    v = np.minimum(v, spec.clip)
                    v = v / np.sqrt(np.sum(v**2) + eps2)
                parts.append(v)
    return np.concatenate(parts) ** spec.power


@pytest.mark.parametrize(
    "spec",
    [
        H.HogSpec(cells=(4,), orientations=9),
        H.HogSpec(cells=(3, 6), orientations=6, signed=True, norm="l2", power=0.5),
        H.HogSpec(cells=(4,), orientations=8, spatial_interp=False),
    ],
    ids=["soft-l2hys", "signed-multiscale-l2-sqrt", "hard-cells"],
)
def test_hog_matches_numpy_reference(spec):
    images = np.random.default_rng(0).random((2, 12, 13, 1)).astype(np.float32)
    got = np.asarray(H.hog(jnp.asarray(images), spec))
    want = np.stack([reference_hog(im[..., 0], spec) for im in images])
    assert got.shape == (2, spec.dim(12, 13))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def edge_image(vertical: bool, size: int = 16) -> np.ndarray:
    image = np.zeros((size, size), np.float32)
    if vertical:
        image[:, size // 2 :] = 1.0  # bright right half: a vertical edge, a horizontal gradient
    else:
        image[: size // 2] = 1.0  # bright top half: a horizontal edge, an upward gradient
    return image[None, :, :, None]


def test_vertical_edge_votes_in_the_horizontal_gradient_bin():
    gx, gy = H.gradients(jnp.asarray(edge_image(vertical=True)))
    channels = np.asarray(H.orientation_channels(gx, gy, orientations=8))
    assert np.all(np.asarray(gy) == 0) and np.asarray(gx).max() > 0
    assert channels[..., 0].sum() > 0
    np.testing.assert_array_equal(channels[..., 1:], 0)


def test_horizontal_edge_votes_in_the_vertical_gradient_bin():
    channels = np.asarray(H.orientation_channels(*H.gradients(jnp.asarray(edge_image(vertical=False))), 8))
    assert channels[..., 4].sum() > 0  # bin 4 of 8 is centred on pi / 2
    np.testing.assert_array_equal(np.delete(channels, 4, axis=-1), 0)


def test_signed_orientations_tell_the_two_sides_of_an_edge_apart():
    dark_to_bright = H.orientation_channels(*H.gradients(jnp.asarray(edge_image(vertical=True))), 8, signed=True)
    bright_to_dark = H.orientation_channels(*H.gradients(jnp.asarray(1 - edge_image(vertical=True))), 8, signed=True)
    assert np.argmax(np.asarray(dark_to_bright).sum((0, 1, 2))) == 0
    assert np.argmax(np.asarray(bright_to_dark).sum((0, 1, 2))) == 4  # pi


def test_soft_binning_splits_between_neighbouring_bins():
    angle = np.pi / 8 * 2.25  # between bins 2 and 3 of 8, a quarter of the way
    gx, gy = jnp.full((1, 1, 1), np.cos(angle)), jnp.full((1, 1, 1), np.sin(angle))
    np.testing.assert_allclose(
        np.asarray(H.orientation_channels(gx, gy, 8))[0, 0, 0], [0, 0, 0.75, 0.25, 0, 0, 0, 0], atol=1e-6
    )


@pytest.mark.parametrize("cell", [3, 4, 7])
def test_bilinear_cell_weights_share_each_interior_pixel_fully(cell):
    weights = H.cell_weights(28, cell)
    covered = weights.sum(axis=0)[cell : (28 // cell - 1) * cell]  # pixels between the first and last centres
    np.testing.assert_allclose(covered, 1.0, atol=1e-6)
    np.testing.assert_array_equal(H.cell_weights(28, cell, spatial_interp=False).sum(axis=0)[: 28 // cell * cell], 1)


@pytest.mark.parametrize("norm", ["l2", "l2hys"])
def test_block_normalisation_gives_unit_blocks_and_keeps_empty_ones_zero(norm):
    cells = np.random.default_rng(1).random((3, 5, 5, 9)).astype(np.float32) * 50
    cells[0] = 0.0  # an empty image
    blocks = np.asarray(H.block_normalize(jnp.asarray(cells), 2, norm))
    assert blocks.shape == (3, 4, 4, 36)
    np.testing.assert_allclose(np.linalg.norm(blocks[1:], axis=-1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(blocks[0], 0)


def test_features_batches_equal_one_pass():
    images = (np.random.default_rng(2).random((7, 28, 28, 1)) * 255).astype(np.uint8)
    spec = H.HogSpec(cells=(4, 7))
    np.testing.assert_allclose(
        H.hog_features(images, spec, batch_size=3),
        np.asarray(H.hog(jnp.asarray(images / 255.0), spec)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"cells": ()}, "cells"),
        ({"orientations": 1}, "orientations"),
        ({"norm": "l1"}, "norm"),
        ({"power": 0.0}, "power"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        H.HogSpec(**kwargs)


def test_dim_rejects_cells_too_large_for_a_block():
    with pytest.raises(ValueError, match="cells"):
        H.HogSpec(cells=(20,)).dim(28, 28)
