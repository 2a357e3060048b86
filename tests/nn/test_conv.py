"""cnnjax.nn.conv: parameter names and shapes, and that each module's output is the functional op's on the same
params."""

import numpy as np
import pytest

from cnnjax import functional as F
from cnnjax import nn

from .helpers import KEY, _input, _shapes, _variables

CONV_CASES = [  # module, input shape, expected kernel shape, functional keyword arguments
    (nn.Conv(8, 3), (2, 9, 9, 4), (3, 3, 4, 8), dict(stride=1, padding="SAME", dilation=1, groups=1)),
    (nn.Conv(5, 4, stride=2, padding="VALID", ndim=1), (2, 12, 3), (4, 3, 5), dict(stride=2, padding="VALID")),
    (
        nn.Conv(2, (2, 3, 2), dilation=(1, 2, 1), ndim=3),
        (1, 5, 6, 4, 2),
        (2, 3, 2, 2, 2),
        dict(dilation=(1, 2, 1), padding="SAME"),
    ),
    (
        nn.Conv(6, 3, groups=3, stride=(2, 1), padding=1),
        (1, 7, 6, 3),
        (3, 3, 1, 6),
        dict(groups=3, stride=(2, 1), padding=1),
    ),
]


@pytest.mark.parametrize("module, shape, kernel_shape, kwargs", CONV_CASES)
def test_conv_params_and_output(module, shape, kernel_shape, kwargs):
    x = _input(*shape)
    variables = _variables(module, x)
    assert _shapes(variables) == {"params": {"kernel": kernel_shape, "bias": (module.features,)}}
    p = variables["params"]
    np.testing.assert_allclose(module.apply(variables, x), F.conv(x, p["kernel"], p["bias"], **kwargs), rtol=1e-5)


def test_conv_without_bias():
    variables = nn.Conv(4, 3, use_bias=False).init(KEY, _input(1, 5, 5, 2))
    assert _shapes(variables) == {"params": {"kernel": (3, 3, 2, 4)}}


def test_conv_transpose_params_and_output():
    x = _input(1, 4, 4, 2)
    module = nn.ConvTranspose(4, 3, stride=2)
    variables = _variables(module, x)
    assert _shapes(variables) == {"params": {"kernel": (3, 3, 2, 4), "bias": (4,)}}
    y = module.apply(variables, x)
    assert y.shape == (1, 8, 8, 4)
    p = variables["params"]
    np.testing.assert_allclose(y, F.conv_transpose(x, p["kernel"], p["bias"], stride=2, padding="SAME"), rtol=1e-5)


@pytest.mark.parametrize("padding, out", [("SAME", 4), ("VALID", 3), (1, 4)])
def test_locally_connected_params_and_output(padding, out):
    x = _input(1, 7, 7, 2)
    module = nn.LocallyConnected(5, 3, stride=2, padding=padding)
    variables = _variables(module, x)
    assert _shapes(variables) == {"params": {"kernel": (out, out, 2 * 9, 5), "bias": (out, out, 5)}}
    p = variables["params"]
    expected = F.locally_connected(x, p["kernel"], p["bias"], kernel_size=3, stride=2, padding=padding)
    np.testing.assert_allclose(module.apply(variables, x), expected, rtol=1e-5)


def test_dense_params_and_output():
    x = _input(2, 4, 5)
    module = nn.Dense(3)
    variables = _variables(module, x)
    assert _shapes(variables) == {"params": {"kernel": (5, 3), "bias": (3,)}}
    p = variables["params"]
    np.testing.assert_allclose(module.apply(variables, x), F.linear(x, p["kernel"], p["bias"]), rtol=1e-5)
