"""The classic fixed 3x3 filters of the lecture notes, as (3, 3) arrays; `as_kernel` to use one in `conv`, and
`filter_bank` to use them all as a layer.

They are printed as in the notes (integer weights, not normalised): divide a blur by its sum for unit gain.
"""

from __future__ import annotations

import numpy as np

from cnnjax.functional.checks import as_int, check_array

FIXED_FILTERS: dict[str, np.ndarray] = {
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel_y": np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    "box_blur": np.ones((3, 3)),
    "gaussian_blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]),
    "gaussian_blur_cross": np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "sharpen_strong": np.array([[-1, -1, -1], [-1, 9, -1], [-1, -1, -1]]),
    "outline": np.array([[0, -1, 0], [-1, 8, -1], [0, -1, 0]]),
    "vertical_line": np.array([[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]]),
    "horizontal_line": np.array([[-1, -1, -1], [1, 1, 1], [-1, -1, -1]]),
    "corner": np.array([[-1, -1, -1], [-1, 1, 1], [-1, 1, 1]]),
}


def fixed_filter(name: str) -> np.ndarray:
    """A (3, 3) float32 copy of a named filter."""
    if name not in FIXED_FILTERS:
        raise ValueError(f"name: expected one of {sorted(FIXED_FILTERS)}, got {name!r}")
    return FIXED_FILTERS[name].astype(np.float32)


def as_kernel(filt: np.ndarray, channels: int = 1) -> np.ndarray:
    """A (kh, kw) filter as a depthwise HWIO kernel (kh, kw, 1, channels), for `conv(..., groups=channels)`."""
    check_array(filt, "filt")
    filt = np.asarray(filt, np.float32)
    if filt.ndim != 2:
        raise ValueError(f"filt: expected a 2-D filter (kh, kw), got shape {filt.shape}")
    channels = as_int(channels, "channels", "an int >= 1")
    if channels < 1:
        raise ValueError(f"channels: expected an int >= 1, got {channels}")
    return np.repeat(filt[:, :, None, None], channels, axis=3)


def filter_bank(in_channels: int = 1) -> np.ndarray:
    """All FIXED_FILTERS as one HWIO kernel (3, 3, in_channels, len(FIXED_FILTERS)), in the dict's order.

    Each filter is scaled to unit L2 norm (the notes' integer weights span gains from 0 to 16, so one filter would
    otherwise dominate the layer's output) and divided by `in_channels`, so it acts on the channels' mean (the
    grey image).
    """
    in_channels = as_int(in_channels, "in_channels", "an int >= 1")
    if in_channels < 1:
        raise ValueError(f"in_channels: expected an int >= 1, got {in_channels}")
    filters = np.stack([f / np.linalg.norm(f) for f in map(fixed_filter, FIXED_FILTERS)], axis=-1)  # (3, 3, K)
    return np.repeat(filters[:, :, None, :] / in_channels, in_channels, axis=2).astype(np.float32)
