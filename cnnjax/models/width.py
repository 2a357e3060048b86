"""Width multipliers: the models' `width` option scales the number of feature maps of every conv layer."""

from __future__ import annotations


def scaled(features: int, width: float, multiple: int = 1) -> int:
    """`features * width` rounded to the nearest multiple of `multiple` (the layer's groups), at least `multiple`.

    scaled(96, 0.25) == 24; scaled(384, 0.3, multiple=2) == 116; width 1.0 returns `features` itself."""
    if not width > 0:
        raise ValueError(f"width: expected a positive multiplier, got {width!r}")
    return max(multiple, round(features * width / multiple) * multiple)
