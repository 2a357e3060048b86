"""conv_transpose with stride == kernel size and no padding as one matrix product (`_tiled_conv_transpose`, the
"fast" profile's formulation on CPU): equal to lax's transposed convolution, forward and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax import backend
from cnnjax import functional as F

CONV = __import__("cnnjax.functional.conv", fromlist=["_tiled_conv_transpose"])


def _lax(x, w, stride, padding):
    return lax.conv_transpose(x, w, strides=stride, padding=padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize(
    "shape, kernel, padding",
    [
        ((2, 4, 4, 8), (2, 2), "VALID"),
        ((2, 4, 4, 8), (2, 2), "SAME"),
        ((1, 3, 5, 3), (3, 2), "VALID"),
        ((2, 2, 2, 4), (2, 2), ((1, 1), (1, 1))),
    ],
)
def test_tiled_conv_transpose_equals_lax_forward_and_gradients(shape, kernel, padding):
    kx, kw_ = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, shape)
    w = jax.random.normal(kw_, (*kernel, shape[-1], 5))
    ref_padding = padding if isinstance(padding, str) else list(padding)
    with jax.default_matmul_precision("highest"):
        np.testing.assert_allclose(CONV._tiled_conv_transpose(x, w), _lax(x, w, kernel, ref_padding), atol=1e-5)
        loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
        ours = jax.grad(loss(CONV._tiled_conv_transpose), (0, 1))(x, w)
        ref = jax.grad(loss(lambda x, w: _lax(x, w, kernel, ref_padding)), (0, 1))(x, w)
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
        y = F.conv_transpose(x, w, stride=kernel, padding=padding)  # the public op, whichever route it takes
        np.testing.assert_allclose(y, _lax(x, w, kernel, ref_padding), atol=1e-5)


def test_conv_transpose_takes_the_tiled_route_only_where_it_applies():
    x, w = jnp.ones((2, 4, 4, 3)), jnp.ones((2, 2, 3, 4))
    hlo = lambda stride, padding: (
        jax.jit(lambda x, w: F.conv_transpose(x, w, stride=stride, padding=padding)).lower(x, w).as_text()
    )
    assert backend.tiled_conv_transpose("cpu", "fast") and not backend.tiled_conv_transpose("cpu", "portable")
    assert not backend.tiled_conv_transpose("gpu", "fast")
    assert "convolution" not in hlo(2, "VALID")  # the suite runs "fast" on CPU: a dot and a reshape
    assert "convolution" in hlo(1, "SAME") and "convolution" in hlo(2, ((1, 0), (0, 0)))
