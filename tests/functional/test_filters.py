"""The fixed 3x3 filters and `as_kernel` (depthwise use in `conv`)."""

import numpy as np
import pytest

from cnnjax import functional as F


def test_filters_have_the_published_weights():
    """Bhattacharya, CS60020 (Sobel, blurs, sharpen, line and corner detectors) and lecture 10 (vertical Sobel,
    printed as sobel_y): the lecture notes of test_seeds_examples.py."""
    np.testing.assert_array_equal(F.fixed_filter("sobel_x"), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(F.fixed_filter("sobel_y"), [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    np.testing.assert_array_equal(F.fixed_filter("gaussian_blur_cross"), [[0, 1, 0], [1, 4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(F.fixed_filter("sharpen"), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(F.fixed_filter("corner"), [[-1, -1, -1], [-1, 1, 1], [-1, 1, 1]])


def test_fixed_filter_returns_a_float32_copy():
    f = F.fixed_filter("box_blur")
    assert f.dtype == np.float32 and f.shape == (3, 3)
    f[:] = 0.0
    assert F.fixed_filter("box_blur").sum() == 9.0


@pytest.mark.parametrize(
    "name, total",
    [
        ("box_blur", 9),
        ("gaussian_blur", 16),
        ("gaussian_blur_cross", 8),
        ("sharpen", 1),
        ("sharpen_strong", 1),
        ("outline", 4),
        ("sobel_x", 0),
        ("sobel_y", 0),
    ],
)
def test_constant_image_is_scaled_by_the_filter_sum(name, total):
    """On a constant image a filter's response is the image value times the filter's sum (blurs keep a normalised
    gain of 1 after dividing by their sum; edge filters give 0)."""
    y = F.conv(np.full((1, 6, 6, 1), 2.0, np.float32), F.as_kernel(F.fixed_filter(name)), padding="VALID")
    np.testing.assert_allclose(y, np.full((1, 4, 4, 1), 2.0 * total), atol=1e-5)


def test_sobel_responds_to_a_vertical_edge_only_across_it():
    image = np.zeros((1, 6, 8, 1), np.float32)
    image[:, :, 4:] = 1.0  # dark left half, bright right half: a vertical edge between columns 3 and 4
    across = np.asarray(F.conv(image, F.as_kernel(F.fixed_filter("sobel_x")), padding="VALID"))[0, :, :, 0]
    along = np.asarray(F.conv(image, F.as_kernel(F.fixed_filter("sobel_y")), padding="VALID"))[0, :, :, 0]
    # Output column j sees input columns j..j+2: windows j = 2, 3 straddle the edge and give 1 + 2 + 1 = 4.
    np.testing.assert_array_equal(across, np.tile([0, 0, 4, 4, 0, 0], (4, 1)))
    np.testing.assert_array_equal(along, np.zeros((4, 6)))


def test_line_detectors_prefer_their_orientation():
    vertical = np.zeros((1, 3, 3, 1), np.float32)
    vertical[:, :, 1] = 1.0
    v = F.conv(vertical, F.as_kernel(F.fixed_filter("vertical_line")), padding="VALID")
    h = F.conv(vertical, F.as_kernel(F.fixed_filter("horizontal_line")), padding="VALID")
    assert float(v[0, 0, 0, 0]) == 3.0 and float(h[0, 0, 0, 0]) == -1.0


def test_as_kernel_is_depthwise():
    kernel = F.as_kernel(F.fixed_filter("sobel_x"), channels=3)
    assert kernel.shape == (3, 3, 1, 3) and kernel.dtype == np.float32
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype(np.float32)
    y = F.conv(x, kernel, groups=3)
    single = F.as_kernel(F.fixed_filter("sobel_x"))
    for c in range(3):  # each channel filtered on its own
        np.testing.assert_allclose(y[..., c : c + 1], F.conv(x[..., c : c + 1], single), rtol=1e-5, atol=1e-5)
