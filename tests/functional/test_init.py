"""cnnjax.functional.init: one He initialiser, in the spellings the zoo uses."""

import jax
import numpy as np
import pytest
from jax.nn import initializers

from cnnjax.functional import init

KEY, SHAPE = jax.random.key(0), (3, 3, 16, 32)


@pytest.mark.parametrize(
    "ours, reference",
    [
        (init.he_normal(), initializers.he_normal()),  # alexnet 'he'
        (init.he_normal("fan_out", "normal"), initializers.variance_scaling(2.0, "fan_out", "normal")),  # VGG, ResNet
        (init.he_normal("fan_in", "normal"), initializers.variance_scaling(2.0, "fan_in", "normal")),  # U-Net
    ],
)
def test_he_normal_equals_jax_bit_for_bit(ours, reference):
    np.testing.assert_array_equal(ours(KEY, SHAPE), reference(KEY, SHAPE))


def test_he_normal_variance():
    w = np.asarray(init.he_normal("fan_out", "normal")(KEY, SHAPE))
    assert abs(w.var() / (2.0 / (3 * 3 * 32)) - 1.0) < 0.05
