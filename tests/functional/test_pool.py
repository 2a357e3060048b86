"""Pooling against NumPy loops and PyTorch's documented size and averaging rules."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnjax import functional as F


def torch_pool_size(n, k, s, p, ceil_mode):
    """PyTorch's pooling output size (`pooling_output_shape`)."""
    num = n + 2 * p - k
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:  # the last window must start inside the input or its left padding
        out -= 1
    return out


def naive_pool_2d(x, k, s, p, *, op, ceil_mode=False, count_include_pad=True):
    """Max or average pooling by an explicit loop, with PyTorch's windows and divisors. x: (N, H, W, C)."""
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    h, w = x.shape[1:3]
    oh, ow = torch_pool_size(h, kh, sh, ph, ceil_mode), torch_pool_size(w, kw, sw, pw, ceil_mode)
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - ph, j * sw - pw
            r1, c1 = min(r0 + kh, h + ph), min(c0 + kw, w + pw)  # window clipped to the padded input
            window = x[:, max(r0, 0) : min(r1, h), max(c0, 0) : min(c1, w)]
            if op == "max":
                y[:, i, j] = window.max(axis=(1, 2))
            else:
                count = (r1 - r0) * (c1 - c0) if count_include_pad else window.shape[1] * window.shape[2]
                y[:, i, j] = window.sum(axis=(1, 2)) / count
    return y


POOL_CASES = [  # (H, W), window, stride, padding
    ((6, 6), (2, 2), (2, 2), (0, 0)),
    ((7, 9), (3, 3), (2, 2), (1, 1)),
    ((8, 5), (3, 2), (1, 2), (1, 0)),
    ((9, 9), (3, 3), (3, 2), (0, 1)),
]


@pytest.mark.parametrize("spatial, k, s, p", POOL_CASES)
def test_max_pool_matches_loop(spatial, k, s, p):
    x = np.random.default_rng(sum(spatial)).normal(size=(2, *spatial, 3)).astype(np.float32)
    np.testing.assert_allclose(F.max_pool(x, k, s, p), naive_pool_2d(x, k, s, p, op="max"), rtol=1e-6)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("spatial, k, s, p", POOL_CASES)
def test_avg_pool_matches_loop(spatial, k, s, p, count_include_pad):
    x = np.random.default_rng(sum(spatial)).normal(size=(2, *spatial, 3)).astype(np.float32)
    y = F.avg_pool(x, k, s, p, count_include_pad=count_include_pad)
    expected = naive_pool_2d(x, k, s, p, op="avg", count_include_pad=count_include_pad)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_avg_pool_count_include_pad_counts_padded_zeros():
    x = np.ones((1, 2, 2, 1), np.float32)
    included = F.avg_pool(x, 2, 1, 1, count_include_pad=True)[0, :, :, 0]
    excluded = F.avg_pool(x, 2, 1, 1, count_include_pad=False)[0, :, :, 0]
    np.testing.assert_allclose(included, [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    np.testing.assert_allclose(excluded, np.ones((3, 3)))


def test_max_pool_padding_never_wins():
    x = -np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1)
    y = F.max_pool(x, 3, 1, 1)
    assert np.all(np.asarray(y) < 0)
    np.testing.assert_allclose(y, naive_pool_2d(x, (3, 3), (1, 1), (1, 1), op="max"))


@pytest.mark.parametrize(
    "n, k, s, p", [(112, 3, 2, 0), (8, 3, 2, 1), (9, 3, 2, 1), (10, 2, 3, 0), (13, 3, 2, 0), (5, 2, 2, 1), (6, 4, 3, 2)]
)
def test_ceil_mode_follows_pytorch_output_size(n, k, s, p):
    x = np.random.default_rng(n + k).normal(size=(1, n, n, 1)).astype(np.float32)
    for ceil_mode in (False, True):
        expected = torch_pool_size(n, k, s, p, ceil_mode)
        y = F.max_pool(x, k, s, p, ceil_mode=ceil_mode)
        assert y.shape == (1, expected, expected, 1)
        if n <= 13:
            np.testing.assert_allclose(y, naive_pool_2d(x, (k,) * 2, (s,) * 2, (p,) * 2, op="max", ceil_mode=ceil_mode))
            for count_include_pad in (True, False):
                np.testing.assert_allclose(
                    F.avg_pool(x, k, s, p, count_include_pad=count_include_pad, ceil_mode=ceil_mode),
                    naive_pool_2d(
                        x,
                        (k,) * 2,
                        (s,) * 2,
                        (p,) * 2,
                        op="avg",
                        ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad,
                    ),
                    rtol=1e-5,
                    atol=1e-6,
                )


def test_ceil_mode_112_to_56():
    """GoogLeNet/ResNet-style 3x3 stride-2 pooling: 112 -> 56 with ceil_mode (55 without)."""
    x = jnp.zeros((1, 112, 112, 1))
    assert F.max_pool(x, 3, 2, ceil_mode=True).shape[1:3] == (56, 56)
    assert F.max_pool(x, 3, 2).shape[1:3] == (55, 55)


def _reduce_window_max_pool(x, k, s, padding):
    """The reference: max pooling as `lax.reduce_window` (whose gradient is XLA's select-and-scatter)."""
    nd = x.ndim - 2
    return lax.reduce_window(x, np.float32(-np.inf), lax.max, (1, *(k,) * nd, 1), (1, *(s,) * nd, 1), padding)


@pytest.mark.parametrize(
    "shape, k, s, padding",
    [
        ((2, 8, 8, 3), 2, 2, "VALID"),  # LeNet's pooling: the reshape + max path
        ((2, 7, 9, 3), 2, 2, "VALID"),  # not divisible: the last row/column dropped, as VALID does
        ((2, 9, 6, 2), 3, 3, "SAME"),  # SAME that pads nothing
        ((2, 8, 3), 2, 2, "VALID"),  # 1-D
        ((1, 4, 6, 4, 2), 2, 2, "VALID"),  # 3-D
        ((2, 7, 7, 2), 3, 2, "VALID"),  # overlapping windows: reduce_window itself
    ],
)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_values_and_gradients_equal_reduce_window(shape, k, s, padding, ties):
    """Non-overlapping max pooling runs as a reshape + max; values, vjp and jvp equal reduce_window's exactly,
    ties included (ReLU zeros and rounded values): the gradient goes to each window's first maximum in row-major
    order, not split between tied maxima as jnp.max's derivative would."""
    rng = np.random.default_rng(len(shape) * 10 + k)
    x = rng.normal(size=shape).astype(np.float32)
    if ties:
        x = np.maximum(np.round(x), 0.0)
    pool = lambda x: F.max_pool(x, (k,) * (x.ndim - 2), s, padding)
    reference = lambda x: _reduce_window_max_pool(x, k, s, padding)
    y, vjp = jax.vjp(pool, x)
    y_ref, vjp_ref = jax.vjp(reference, x)
    np.testing.assert_array_equal(y, y_ref)
    g = rng.normal(size=y.shape).astype(np.float32)
    np.testing.assert_array_equal(vjp(g)[0], vjp_ref(g)[0])
    np.testing.assert_array_equal(
        jax.jit(jax.grad(lambda x: jnp.sum(pool(x) * g)))(x), jax.jit(jax.grad(lambda x: jnp.sum(reference(x) * g)))(x)
    )
    t = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(jax.jvp(pool, (x,), (t,))[1], jax.jvp(reference, (x,), (t,))[1])


def test_max_pool_gradient_of_a_tie_goes_to_the_first_maximum():
    x = np.zeros((1, 4, 4, 1), np.float32)
    grad = jax.grad(lambda x: jnp.sum(F.max_pool(x, 2)))(x)[0, :, :, 0]
    np.testing.assert_array_equal(grad, np.tile([[1.0, 0.0], [0.0, 0.0]], (2, 2)))


def test_max_pool_is_invariant_to_shifts_within_windows():
    """One positive peak per 4x4 window, never in the window's last column: shifting right by one pixel keeps every
    peak inside its window, so the pooled map is unchanged (the notes' stability to small translations)."""
    rng = np.random.default_rng(7)
    x = np.zeros((1, 12, 12, 2), np.float32)
    for bi in range(3):
        for bj in range(3):
            for c in range(2):
                r, col = rng.integers(0, 4), rng.integers(0, 3)
                x[0, 4 * bi + r, 4 * bj + col, c] = rng.uniform(1.0, 2.0)
    shifted = np.roll(x, 1, axis=2)
    np.testing.assert_array_equal(F.max_pool(shifted, 4), F.max_pool(x, 4))
    assert not np.array_equal(shifted, x)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_lp_pool(p):
    x = np.random.default_rng(8).normal(size=(2, 6, 6, 3)).astype(np.float32)
    y = F.lp_pool(x, 2, p=p)
    blocks = np.abs(x).reshape(2, 3, 2, 3, 2, 3)
    np.testing.assert_allclose(y, (blocks**p).sum(axis=(2, 4)) ** (1 / p), rtol=1e-5)


def test_l2_pool_is_sqrt_of_sum_of_squares():
    x = np.array([[3.0, 0.0], [0.0, -4.0]], np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(F.lp_pool(x, 2)[0, 0, 0, 0], 5.0, rtol=1e-6)


def test_global_avg_pool():
    x = np.random.default_rng(9).normal(size=(2, 3, 4, 5, 6)).astype(np.float32)
    y = F.global_avg_pool(x)
    assert y.shape == (2, 6)
    np.testing.assert_allclose(y, x.mean(axis=(1, 2, 3)), rtol=1e-5, atol=1e-6)


def adaptive_reference(x, out):
    """PyTorch's adaptive_avg_pool2d: cell i averages [floor(i n / o), ceil((i + 1) n / o))."""
    (h, w), (oh, ow) = x.shape[1:3], out
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            rows = slice(math.floor(i * h / oh), math.ceil((i + 1) * h / oh))
            cols = slice(math.floor(j * w / ow), math.ceil((j + 1) * w / ow))
            y[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    return y


@pytest.mark.parametrize("spatial, out", [((7, 5), (3, 2)), ((6, 6), (4, 4)), ((5, 7), (5, 3)), ((3, 3), (6, 5))])
def test_adaptive_avg_pool_matches_pytorch_formula(spatial, out):
    x = np.random.default_rng(sum(spatial)).normal(size=(2, *spatial, 3)).astype(np.float32)
    np.testing.assert_allclose(F.adaptive_avg_pool(x, out), adaptive_reference(x, out), rtol=1e-5, atol=1e-6)


def test_adaptive_avg_pool_identity_and_divisible_case():
    x = np.random.default_rng(10).normal(size=(1, 8, 6, 2)).astype(np.float32)
    np.testing.assert_array_equal(F.adaptive_avg_pool(x, (8, 6)), x)
    np.testing.assert_allclose(F.adaptive_avg_pool(x, (4, 3)), F.avg_pool(x, 2), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(F.adaptive_avg_pool(x, 1)[:, 0, 0], F.global_avg_pool(x), rtol=1e-6, atol=1e-6)


def test_channel_max_pool():
    x = np.random.default_rng(11).normal(size=(2, 3, 3, 12)).astype(np.float32)
    y = F.channel_max_pool(x, 4)
    assert y.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(y, x.reshape(2, 3, 3, 3, 4).max(axis=-1))
    np.testing.assert_array_equal(F.channel_max_pool(x, 1), x)


def test_pools_on_1d_and_3d_inputs():
    x = np.random.default_rng(12).normal(size=(2, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(F.max_pool(x, (2,)), x.reshape(2, 4, 2, 3).max(axis=2))
    np.testing.assert_allclose(F.avg_pool(x, (4,)), x.reshape(2, 2, 4, 3).mean(axis=2), rtol=1e-6)
    v = np.random.default_rng(13).normal(size=(1, 4, 4, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(F.max_pool(v, 2), v.reshape(1, 2, 2, 2, 2, 2, 2, 2).max(axis=(2, 4, 6)))


class JitTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_max_pool(self):
        x = np.random.default_rng(14).normal(size=(1, 9, 9, 2)).astype(np.float32)
        y = self.variant(lambda x: F.max_pool(x, 3, 2, 1, ceil_mode=True))(x)
        np.testing.assert_allclose(y, naive_pool_2d(x, (3, 3), (2, 2), (1, 1), op="max", ceil_mode=True))

    @chex.variants(with_jit=True, without_jit=True)
    def test_avg_pool(self):
        x = np.random.default_rng(15).normal(size=(1, 8, 8, 2)).astype(np.float32)
        y = self.variant(lambda x: F.avg_pool(x, 3, 2, 1, count_include_pad=False))(x)
        expected = naive_pool_2d(x, (3, 3), (2, 2), (1, 1), op="avg", count_include_pad=False)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    def test_lp_adaptive_global_channel(self):
        x = np.random.default_rng(16).normal(size=(1, 7, 5, 4)).astype(np.float32)
        np.testing.assert_allclose(
            self.variant(lambda x: F.adaptive_avg_pool(x, (3, 2)))(x),
            adaptive_reference(x, (3, 2)),
            rtol=1e-5,
            atol=1e-6,
        )
        np.testing.assert_allclose(self.variant(F.global_avg_pool)(x), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(
            self.variant(lambda x: F.channel_max_pool(x, 2))(x), x.reshape(1, 7, 5, 2, 2).max(-1)
        )
        np.testing.assert_allclose(
            self.variant(lambda x: F.lp_pool(x, (7, 5)))(x)[:, 0, 0], np.sqrt((x**2).sum(axis=(1, 2))), rtol=1e-5
        )
