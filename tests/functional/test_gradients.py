"""Backpropagation rules of the lecture notes of test_seeds_examples.py against jax.grad, and finite-difference
checks of every differentiable op.

Finite differences run in float64 (`jax.enable_x64(True)` as a context, so the rest of the suite stays float32).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import signal

from cnnjax import functional as F


def _max_pool_grad_reference(x, g, k, s):
    """Lecture 10 ('What's the backprop rule for max pooling?'): store the arg-max of each window in the forward
    pass; each output's gradient goes to that input only (and adds up where overlapping windows share it)."""
    grad = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[3]):
            for i in range(g.shape[1]):
                for j in range(g.shape[2]):
                    window = x[n, i * s : i * s + k, j * s : j * s + k, c]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    grad[n, i * s + a, j * s + b, c] += g[n, i, j, c]
    return grad


@pytest.mark.parametrize("k, s", [(2, 2), (3, 2), (3, 1)])
def test_max_pool_gradient_goes_only_to_the_argmax(k, s):
    """Larson ('CNN gradient'): pool'(X_i) = 1 if X_i is the max, 0 else."""
    rng = np.random.default_rng(k * 10 + s)
    x = rng.permutation(2 * 7 * 7 * 2).reshape(2, 7, 7, 2).astype(np.float32)  # distinct values: no ties
    y, vjp = jax.vjp(lambda x: F.max_pool(x, k, s), x)
    g = rng.normal(size=y.shape).astype(np.float32)
    np.testing.assert_allclose(vjp(g)[0], _max_pool_grad_reference(x, g, k, s), rtol=1e-6)


def test_conv_input_gradient_is_full_convolution_with_the_kernel_1d():
    """Gao ('Backpropagation Update'), eqs. (5)-(8): y_{i,t} = sum_j sum_tau w_{i,j,tau} x_{j,t+tau} gives
    xbar_j = sum_i ybar_i * w_{i,j}, a true (full) convolution; and wbar_{i,j,tau} = sum_t ybar_{i,t} x_{j,t+tau}."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 10, 2)).astype(np.float32)  # (N, T, J)
    w = rng.normal(size=(3, 2, 4)).astype(np.float32)  # (K, J, I)
    y, vjp = jax.vjp(lambda x, w: F.conv(x, w, padding="VALID"), x, w)
    ybar = rng.normal(size=y.shape).astype(np.float32)
    xbar, wbar = vjp(ybar)
    expected_x = np.zeros((10, 2))
    expected_w = np.zeros((3, 2, 4))
    for j in range(2):
        for i in range(4):
            expected_x[:, j] += np.convolve(ybar[0, :, i], w[:, j, i], mode="full")
            expected_w[:, j, i] = np.correlate(x[0, :, j], ybar[0, :, i], mode="valid")
    np.testing.assert_allclose(xbar[0], expected_x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(wbar, expected_w, rtol=1e-4, atol=1e-5)
    # The same rule with the library's own ops: conv of ybar with the flipped, transposed kernel, padding k - 1.
    flipped = jnp.flip(w, 0).swapaxes(1, 2)
    np.testing.assert_allclose(xbar, F.conv(ybar, flipped, padding=2), rtol=1e-4, atol=1e-5)


def test_conv_input_gradient_is_full_convolution_with_the_kernel_2d():
    """Gao, eq. (8) in 2-D (scipy's `convolve2d(mode='full')` as the independent reference)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 6, 7, 3)).astype(np.float32)
    w = rng.normal(size=(3, 2, 3, 2)).astype(np.float32)
    y, vjp = jax.vjp(lambda x: F.conv(x, w, padding="VALID"), x)
    ybar = rng.normal(size=y.shape).astype(np.float32)
    expected = np.zeros((6, 7, 3))
    for j in range(3):
        for i in range(2):
            expected[:, :, j] += signal.convolve2d(ybar[0, :, :, i], w[:, :, j, i], mode="full")
    np.testing.assert_allclose(vjp(ybar)[0][0], expected, rtol=1e-4, atol=1e-5)


def test_strided_conv_input_gradient_inserts_zeros_in_the_output_gradient():
    """With stride s, the same rule applies to ybar with s - 1 zeros between its entries (a transposed convolution)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 9, 1)).astype(np.float32)
    w = rng.normal(size=(3, 1, 1)).astype(np.float32)
    y, vjp = jax.vjp(lambda x: F.conv(x, w, stride=2, padding="VALID"), x)
    ybar = rng.normal(size=y.shape).astype(np.float32)
    dilated = np.zeros(2 * y.shape[1] - 1)
    dilated[::2] = ybar[0, :, 0]
    np.testing.assert_allclose(vjp(ybar)[0][0, :, 0], np.convolve(dilated, w[:, 0, 0]), rtol=1e-5, atol=1e-6)


def test_dense_weight_gradient_is_outer_product_of_error_signal_and_input():
    """Bhattacharya ('Training with backpropagation'): dJ/dW_ij = delta_i x_j with delta_i = U_i f'(z_i) for
    J = U^T f(W x + b), f logistic: dJ/dW = delta x^T (here W is stored (in, out), so x delta^T)."""
    rng = np.random.default_rng(3)
    x, w, b, u = (rng.normal(size=s).astype(np.float32) for s in [(3,), (3, 4), (4,), (4,)])
    grad = jax.grad(lambda w: jnp.dot(u, F.sigmoid(F.linear(x, w, b))))(w)
    z = x @ w + b
    s = 1 / (1 + np.exp(-z))
    delta = u * s * (1 - s)
    np.testing.assert_allclose(grad, np.outer(x, delta), rtol=1e-5, atol=1e-6)


def _check(f, *args):
    """vjp against central differences along random directions (jit keeps op-by-op dispatch out of the loop)."""
    check_grads(jax.jit(f), args, order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


def _normal(rng, *shape):
    return jnp.asarray(rng.normal(size=shape))


def _distinct(rng, *shape):
    """Values at least 0.1 apart, so the finite-difference step never changes a max or a hinge's active set."""
    return jnp.asarray(rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + 0.05)


FINITE_DIFFERENCE_CASES = {
    "conv": lambda r: (
        functools.partial(F.conv, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
        _normal(r, 2, 7, 8, 4),
        _normal(r, 3, 3, 2, 6),
        _normal(r, 6),
    ),
    "conv_3d": lambda r: (
        functools.partial(F.conv, padding="SAME"),
        _normal(r, 1, 4, 4, 4, 2),
        _normal(r, 2, 2, 2, 2, 3),
    ),
    "conv_transpose": lambda r: (
        functools.partial(F.conv_transpose, stride=2),
        _normal(r, 1, 4, 4, 3),
        _normal(r, 3, 3, 3, 2),
    ),
    "locally_connected": lambda r: (
        functools.partial(F.locally_connected, kernel_size=2, stride=2),
        _normal(r, 2, 6, 6, 2),
        _normal(r, 3, 3, 8, 3),
    ),
    "max_pool": lambda r: (
        functools.partial(F.max_pool, window=3, stride=2, padding=1, ceil_mode=True),
        _distinct(r, 2, 8, 8, 2),
    ),
    "avg_pool": lambda r: (
        functools.partial(F.avg_pool, window=3, stride=2, padding=1, count_include_pad=False),
        _normal(r, 2, 7, 7, 2),
    ),
    "lp_pool": lambda r: (functools.partial(F.lp_pool, window=2, p=2.0), _distinct(r, 1, 4, 4, 2)),
    "adaptive_avg_pool": lambda r: (lambda x: F.adaptive_avg_pool(x, (3, 2)), _normal(r, 2, 7, 5, 2)),
    "channel_max_pool": lambda r: (lambda x: F.channel_max_pool(x, 3), _distinct(r, 2, 3, 6)),
    "batch_norm_train": lambda r: (
        lambda x, scale, bias: F.batch_norm(
            x, {"scale": scale, "bias": bias}, {"mean": jnp.zeros(3), "var": jnp.ones(3)}, train=True
        )[0],
        _normal(r, 4, 3, 3, 3),
        _normal(r, 3),
        _normal(r, 3),
    ),
    "batch_norm_eval": lambda r: (
        lambda x, scale: F.batch_norm(
            x, {"scale": scale}, {"mean": jnp.full(3, 0.5), "var": jnp.full(3, 2.0)}, train=False
        )[0],
        _normal(r, 4, 3),
        _normal(r, 3),
    ),
    "local_response_norm": lambda r: (
        lambda x: F.local_response_norm(x, size=3, alpha=0.1, beta=0.75, k=1.0),
        _normal(r, 2, 3, 3, 6) * 3,
    ),
    "softmax_cross_entropy": lambda r: (
        lambda z: F.softmax_cross_entropy(z, jnp.array([0, 3, 1]), label_smoothing=0.1),
        _normal(r, 3, 5),
    ),
    "multiclass_hinge": lambda r: (lambda z: F.multiclass_hinge(z, jnp.array([0, 3, 1])), _distinct(r, 3, 5) * 3),
    "l2_loss": lambda r: (F.l2_loss, _normal(r, 3, 2, 2), _normal(r, 3, 2, 2)),
    "dropout": lambda r: (lambda x: F.dropout(jax.random.key(0), x, 0.3, train=True), _normal(r, 4, 5)),
    "sigmoid_softmax_tanh": lambda r: (
        lambda x: F.softmax(F.sigmoid(x) + F.tanh(x) + F.scaled_tanh(x)),
        _normal(r, 3, 4),
    ),
}


@pytest.mark.parametrize("name", sorted(FINITE_DIFFERENCE_CASES))
def test_finite_differences_float64(name):
    with jax.enable_x64(True):
        f, *args = FINITE_DIFFERENCE_CASES[name](np.random.default_rng(0))
        assert all(a.dtype == jnp.float64 for a in args)
        _check(f, *args)


@pytest.mark.parametrize(
    "op",
    [
        lambda x: F.max_pool(x, 3, 2, 1),
        lambda x: F.avg_pool(x, 3, 2, 1, count_include_pad=False, ceil_mode=True),
        lambda x: F.lp_pool(x, 2),
        lambda x: F.local_response_norm(x, size=3, alpha=0.5),
    ],
    ids=["max_pool", "avg_pool", "lp_pool", "local_response_norm"],
)
def test_window_ops_differentiate_under_jit(op):
    """jit(grad) of pooling/LRN equals the eager gradient (reduce_window keeps its differentiable monoid form; a
    traced init value made reverse mode fail under jit). grad(jit) is covered by the finite differences."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 4)), jnp.float32)
    loss = lambda x: jnp.sum(op(x) ** 2)
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(x), jax.grad(loss)(x), rtol=1e-5, atol=1e-6)
