"""ZFNet's renormalisation: conv filters whose RMS exceeds the radius are scaled back to it, nothing else moves."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F


def test_only_conv_filters_above_the_radius_are_rescaled_to_it():
    kernel = jnp.stack([jnp.full((3, 3, 2), 0.5), jnp.full((3, 3, 2), 0.05)], axis=-1)  # RMS 0.5 and 0.05
    params = {"conv": {"kernel": kernel, "bias": jnp.full(2, 9.0)}, "fc": {"kernel": jnp.full((4, 2), 9.0)}}
    out = F.filter_rms_project(params, 0.1)
    rms = np.sqrt(np.mean(np.square(out["conv"]["kernel"]), axis=(0, 1, 2)))
    np.testing.assert_allclose(rms, [0.1, 0.05], rtol=1e-6)
    np.testing.assert_array_equal(out["fc"]["kernel"], params["fc"]["kernel"])
    np.testing.assert_array_equal(out["conv"]["bias"], params["conv"]["bias"])
    with pytest.raises(ValueError, match=r"radius: expected a positive RMS, got 0.0"):
        F.filter_rms_project(params, 0.0)
