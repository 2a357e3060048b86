"""conv, conv_transpose, locally_connected, conv_matrix, conv_output_size and linear against NumPy references."""

import importlib
import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F


def naive_conv(x, w, *, stride, padding, dilation, groups):
    """Cross-correlation by an explicit loop over output positions (NumPy, any number of spatial dimensions).

    x (N, *spatial, C_in), w (*k, C_in // groups, C_out); padding: explicit (lo, hi) pairs.
    """
    nd = x.ndim - 2
    x = np.pad(x, [(0, 0), *padding, (0, 0)])
    window = [d * (k - 1) + 1 for k, d in zip(w.shape[:nd], dilation)]
    out = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], window, stride)]
    c_in, c_out = w.shape[-2], w.shape[-1]
    per_group = c_out // groups
    y = np.zeros((x.shape[0], *out, c_out))
    for pos in np.ndindex(*out):
        index = tuple(slice(p * s, p * s + k, d) for p, s, k, d in zip(pos, stride, window, dilation))
        patch = x[(slice(None), *index)]  # (N, *k, C_in total)
        for o in range(c_out):
            g = o // per_group
            taps = patch[..., g * c_in : (g + 1) * c_in]
            y[(slice(None), *pos, o)] = np.sum(taps * w[..., o], axis=tuple(range(1, nd + 2)))
    return y


def _pairs(padding, nd):
    return [(padding, padding)] * nd if isinstance(padding, int) else list(padding)


# (input spatial, kernel spatial, C_in, C_out, groups, stride, dilation, padding)
NAIVE_CASES = [
    ((9,), (3,), 2, 3, 1, (1,), (1,), 0),  # 1-D
    ((11,), (4,), 4, 6, 2, (2,), (2,), [(2, 1)]),  # 1-D grouped, strided, dilated, asymmetric padding
    ((7, 6), (3, 3), 3, 4, 1, (1, 1), (1, 1), 1),
    ((8, 9), (3, 2), 2, 5, 1, (2, 3), (1, 1), [(1, 0), (0, 2)]),
    ((9, 9), (3, 3), 2, 2, 1, (1, 1), (2, 3), 2),  # dilated
    ((7, 8), (3, 3), 4, 6, 2, (2, 1), (1, 2), 1),  # grouped
    ((6, 7), (3, 3), 3, 3, 3, (1, 2), (1, 1), 1),  # depthwise
    ((6, 6), (5, 5), 2, 4, 2, (1, 1), (1, 1), 2),  # depthwise, multiplier 2
    ((5, 6, 4), (3, 2, 2), 2, 3, 1, (1, 2, 1), (1, 1, 2), [(1, 1), (0, 1), (1, 0)]),  # 3-D
    ((5, 5), (3, 3), 18, 18, 18, (1, 1), (1, 1), 1),  # depthwise, more groups than F.conv's MAX_SPLIT_GROUPS
]


@pytest.mark.parametrize("spatial, ksize, c_in, c_out, groups, stride, dilation, padding", NAIVE_CASES)
def test_conv_matches_naive_loop(spatial, ksize, c_in, c_out, groups, stride, dilation, padding):
    rng = np.random.default_rng(len(spatial) * 100 + sum(ksize) + groups)
    x = rng.normal(size=(2, *spatial, c_in)).astype(np.float32)
    w = rng.normal(size=(*ksize, c_in // groups, c_out)).astype(np.float32)
    b = rng.normal(size=(c_out,)).astype(np.float32)
    y = F.conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    expected = naive_conv(x, w, stride=stride, padding=_pairs(padding, len(spatial)), dilation=dilation, groups=groups)
    np.testing.assert_allclose(y, expected + b, rtol=1e-4, atol=1e-4)


def _random_config(seed):
    """A random convolution: 1-D to 3-D, stride, dilation, groups (depthwise included) and explicit padding."""
    rng = np.random.default_rng(1000 + seed)
    nd = int(rng.integers(1, 4))
    groups = int(rng.choice([1, 2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    ksize = tuple(int(k) for k in rng.integers(1, 4, nd))
    dilation = tuple(int(d) for d in rng.integers(1, 3, nd))
    stride = tuple(int(t) for t in rng.integers(1, 3, nd))
    padding = [tuple(int(p) for p in rng.integers(0, 3, 2)) for _ in range(nd)]
    spatial = tuple(int(d * (k - 1) + 1 + rng.integers(0, 4)) for k, d in zip(ksize, dilation))
    x = rng.normal(size=(2, *spatial, c_in)).astype(np.float32)
    w = rng.normal(size=(*ksize, c_in // groups, c_out)).astype(np.float32)
    return x, w, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("seed", range(8))
def test_conv_matches_naive_loop_random_configurations(seed):
    x, w, kwargs = _random_config(seed)
    np.testing.assert_allclose(F.conv(x, w, **kwargs), naive_conv(x, w, **kwargs), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_conv_matrix_random_configurations(seed):
    rng = np.random.default_rng(2000 + seed)
    kh, kw = (int(k) for k in rng.integers(1, 4, 2))
    h, wd, c_in = kh + int(rng.integers(0, 4)), kw + int(rng.integers(0, 4)), int(rng.integers(1, 3))
    stride = tuple(int(t) for t in rng.integers(1, 3, 2))
    padding = tuple(tuple(int(p) for p in rng.integers(0, 2, 2)) for _ in range(2))
    x = rng.normal(size=(h, wd, c_in)).astype(np.float32)
    w = rng.normal(size=(kh, kw, c_in, 2)).astype(np.float32)
    y = np.asarray(F.conv(x[None], w, stride=stride, padding=padding))[0]
    np.testing.assert_allclose(
        F.conv_matrix(w, x.shape, stride=stride, padding=padding) @ x.ravel(), y.ravel(), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("n, k, s", [(7, 3, 1), (7, 3, 2), (8, 3, 2), (10, 4, 3), (5, 5, 1), (6, 1, 4)])
def test_same_padding_gives_ceil_n_over_s_and_centres_the_kernel(n, k, s):
    rng = np.random.default_rng(n + k + s)
    x = rng.normal(size=(1, n, n, 2)).astype(np.float32)
    w = rng.normal(size=(k, k, 2, 3)).astype(np.float32)
    y = F.conv(x, w, stride=s, padding="SAME")
    assert y.shape == (1, -(-n // s), -(-n // s), 3)
    total = max((-(-n // s) - 1) * s + k - n, 0)  # XLA/TensorFlow: the odd pixel goes to the high side
    expected = naive_conv(
        x, w, stride=(s, s), padding=[(total // 2, total - total // 2)] * 2, dilation=(1, 1), groups=1
    )
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "shape, ksize, stride, padding",
    [
        ((5, 5, 1), (3, 3), 1, 0),
        ((6, 7, 2), (3, 2), 2, 1),
        ((7, 5, 3), (2, 3), (1, 2), ((0, 1), (2, 0))),
        ((4, 4, 2), (4, 4), 1, 1),
    ],
)
def test_conv_equals_conv_matrix_product(shape, ksize, stride, padding):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=shape).astype(np.float32)
    w = rng.normal(size=(*ksize, shape[-1], 3)).astype(np.float32)
    matrix = F.conv_matrix(w, shape, stride=stride, padding=padding)
    y = F.conv(x[None], w, stride=stride, padding=padding)[0]
    assert matrix.shape == (y.size, x.size)
    np.testing.assert_allclose(matrix @ x.ravel(), np.asarray(y).ravel(), rtol=1e-4, atol=1e-4)


def test_conv_matrix_is_doubly_block_toeplitz():
    """Single channel, stride 1: M[(i, j), (i + a, j + b)] = w[a, b], and zero off the kernel's band."""
    w = np.arange(1, 7, dtype=np.float32).reshape(2, 3, 1, 1)
    matrix = F.conv_matrix(w, (4, 5, 1)).reshape(3, 3, 4, 5)
    for i, j, r, c in itertools.product(range(3), range(3), range(4), range(5)):
        a, b = r - i, c - j
        inside = 0 <= a < 2 and 0 <= b < 3
        assert matrix[i, j, r, c] == (w[a, b, 0, 0] if inside else 0.0)


@pytest.mark.parametrize("n, k, s, p, d", [(32, 5, 1, 2, 1), (7, 3, 2, 0, 1), (10, 3, 3, 1, 2), (9, 4, 2, 3, 1)])
def test_conv_output_size_matches_conv(n, k, s, p, d):
    x = jnp.zeros((1, n, 1))
    w = jnp.zeros((k, 1, 1))
    assert F.conv(x, w, stride=s, padding=p, dilation=d).shape[1] == F.conv_output_size(n, k, s, p, d)
    assert F.conv_output_size(n, k, s, p, d) == (n + 2 * p - d * (k - 1) - 1) // s + 1


def test_conv_output_size_strict_accepts_exact_fits():
    assert F.conv_output_size(7, 3, 2, strict=True) == 3
    assert F.conv_output_size(8, 3, 3, padding=2, strict=True) == 4


def test_conv_is_translation_equivariant():
    """Shifting the input shifts the output by the same amount (compared where no border is involved)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 12, 12, 2)).astype(np.float32)
    w = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    dy, dx = 2, 3
    shifted = np.roll(x, (dy, dx), axis=(1, 2))
    y, y_shifted = F.conv(x, w, padding="VALID"), F.conv(shifted, w, padding="VALID")
    # Output (i, j) of the shifted input reads rows i..i+2 of `shifted`, i.e. rows i-dy..i-dy+2 of x: no wrap
    # from np.roll is involved for i >= dy, j >= dx.
    np.testing.assert_allclose(y_shifted[:, dy:, dx:], y[:, : 10 - dy, : 10 - dx], rtol=1e-5, atol=1e-5)


def test_conv_is_linear_in_input_and_kernel():
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(2, 1, 6, 6, 2)).astype(np.float32)
    w1, w2 = rng.normal(size=(2, 3, 3, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(
        F.conv(2 * x1 - 3 * x2, w1), 2 * F.conv(x1, w1) - 3 * F.conv(x2, w1), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(F.conv(x1, 0.5 * w1 + w2), 0.5 * F.conv(x1, w1) + F.conv(x1, w2), rtol=1e-4, atol=1e-4)


def _shared_as_local(w, out_spatial):
    """An HWIO kernel repeated at every output position, patch axis ordered channel first (the documented order)."""
    nd = w.ndim - 2
    patch = np.moveaxis(w, nd, 0).reshape(-1, w.shape[-1])  # (C_in * prod(k), C_out)
    return np.broadcast_to(patch, (*out_spatial, *patch.shape)).copy()


@pytest.mark.parametrize(
    "spatial, ksize, stride, padding",
    [((7, 6), (3, 2), (1, 2), "VALID"), ((6, 6), (3, 3), (2, 2), "SAME"), ((9,), (4,), (2,), 1)],
)
def test_locally_connected_with_shared_weights_equals_conv(spatial, ksize, stride, padding):
    rng = np.random.default_rng(len(spatial))
    x = rng.normal(size=(2, *spatial, 3)).astype(np.float32)
    w = rng.normal(size=(*ksize, 3, 4)).astype(np.float32)
    with jax.default_matmul_precision("highest"):  # float32 products on GPU too (its default is TF32)
        y = F.conv(x, w, stride=stride, padding=padding)
        local = F.locally_connected(
            x, _shared_as_local(w, y.shape[1:-1]), kernel_size=ksize, stride=stride, padding=padding
        )
    np.testing.assert_allclose(local, y, rtol=1e-4, atol=1e-4)


def test_locally_connected_weights_are_not_shared():
    """Changing the weights of one output position changes that position only."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
    w = rng.normal(size=(3, 3, 2 * 9, 3)).astype(np.float32)
    b = rng.normal(size=(3, 3, 3)).astype(np.float32)
    y = F.locally_connected(x, w, b, kernel_size=3)
    w2 = w.copy()
    w2[1, 2] += 1.0
    changed = np.abs(np.asarray(F.locally_connected(x, w2, b, kernel_size=3) - y)).max(axis=(0, 3)) > 1e-3
    expected = np.zeros((3, 3), bool)
    expected[1, 2] = True
    np.testing.assert_array_equal(changed, expected)


@pytest.mark.parametrize(
    "n, k, s, d, padding",
    [
        (5, 3, 2, 1, "SAME"),
        (5, 3, 2, 1, "VALID"),
        (4, 4, 2, 1, "SAME"),
        (4, 2, 3, 1, "VALID"),
        (6, 5, 1, 1, "SAME"),
        (3, 2, 2, 1, "SAME"),
        (4, 3, 2, 2, "VALID"),
        (4, 3, 1, 2, "SAME"),
    ],
)
def test_conv_transpose_shape_and_is_the_input_gradient_of_conv(n, k, s, d, padding):
    """conv_transpose(g, w) == vjp of z -> conv(z, flip(w) with in/out swapped) at z of the output's shape, as the
    docstring states; shapes: 'SAME' n * s, 'VALID' n * s + max(k_eff - s, 0)."""
    rng = np.random.default_rng(n * 10 + k)
    g = rng.normal(size=(2, n, n, 3)).astype(np.float32)
    w = rng.normal(size=(k, k, 3, 5)).astype(np.float32)
    y = F.conv_transpose(g, w, stride=s, padding=padding, dilation=d)
    k_eff = d * (k - 1) + 1
    m = n * s if padding == "SAME" else n * s + max(k_eff - s, 0)
    assert y.shape == (2, m, m, 5)
    v = jnp.flip(w, (0, 1)).swapaxes(-1, -2)
    out, vjp = jax.vjp(lambda z: F.conv(z, v, stride=s, padding=padding, dilation=d), jnp.zeros(y.shape))
    assert out.shape == g.shape
    np.testing.assert_allclose(vjp(g)[0], y, rtol=1e-4, atol=1e-4)


def _insert_zeros(x, s):
    """(N, n, C) -> (N, (n - 1) * s + 1, C) with s - 1 zeros between neighbouring pixels."""
    out = np.zeros((x.shape[0], (x.shape[1] - 1) * s + 1, x.shape[2]), x.dtype)
    out[:, ::s] = x
    return out


@pytest.mark.parametrize("s, padding", [(2, ((2, 2),)), (3, ((0, 1),)), (2, 1)])
def test_conv_transpose_inserts_zeros_then_convolves(s, padding):
    """Explicit padding pads the zero-inserted input: out = (n - 1) s + 1 + lo + hi - k + 1; kernel not flipped."""
    rng = np.random.default_rng(s)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    w = rng.normal(size=(3, 3, 4)).astype(np.float32)
    b = rng.normal(size=(4,)).astype(np.float32)
    y = F.conv_transpose(x, w, b, stride=s, padding=padding)
    ((lo, hi),) = _pairs(padding, 1)
    assert y.shape == (2, 4 * s + 1 + lo + hi - 3 + 1, 4)
    expected = naive_conv(_insert_zeros(x, s), w, stride=(1,), padding=[(lo, hi)], dilation=(1,), groups=1)
    np.testing.assert_allclose(y, expected + b, rtol=1e-4, atol=1e-4)


def test_linear_matches_matmul():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 5)).astype(np.float32)
    w = rng.normal(size=(5, 4)).astype(np.float32)
    b = rng.normal(size=(4,)).astype(np.float32)
    np.testing.assert_allclose(F.linear(x, w, b), x @ w + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(F.linear(x, w), x @ w, rtol=1e-5, atol=1e-5)


class JitTest(chex.TestCase):
    """The same results with and without jax.jit (static arguments closed over)."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_conv(self):
        rng = np.random.default_rng(4)
        x = rng.normal(size=(2, 7, 6, 4)).astype(np.float32)
        w = rng.normal(size=(3, 3, 2, 6)).astype(np.float32)
        y = self.variant(lambda x, w: F.conv(x, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2))(x, w)
        expected = naive_conv(x, w, stride=(2, 1), padding=[(1, 1)] * 2, dilation=(1, 2), groups=2)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)

    @chex.variants(with_jit=True, without_jit=True)
    def test_conv_transpose(self):
        rng = np.random.default_rng(5)
        x = rng.normal(size=(1, 4, 3)).astype(np.float32)
        w = rng.normal(size=(3, 3, 2)).astype(np.float32)
        y = self.variant(lambda x, w: F.conv_transpose(x, w, stride=2, padding=((2, 2),)))(x, w)
        expected = naive_conv(_insert_zeros(x, 2), w, stride=(1,), padding=[(2, 2)], dilation=(1,), groups=1)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)

    @chex.variants(with_jit=True, without_jit=True)
    def test_locally_connected(self):
        rng = np.random.default_rng(6)
        x = rng.normal(size=(1, 5, 5, 2)).astype(np.float32)
        w = rng.normal(size=(3, 3, 2, 3)).astype(np.float32)
        y = self.variant(lambda x, w: F.locally_connected(x, w, kernel_size=3))(x, _shared_as_local(w, (3, 3)))
        np.testing.assert_allclose(y, F.conv(x, w, padding="VALID"), rtol=1e-4, atol=1e-4)

    @chex.variants(with_jit=True, without_jit=True)
    def test_linear(self):
        x, w = np.ones((2, 3), np.float32), np.full((3, 4), 0.5, np.float32)
        np.testing.assert_allclose(self.variant(F.linear)(x, w), np.full((2, 4), 1.5))


def _lax_reference(x, w, *, stride, padding, dilation, groups):
    nd = w.ndim - 2
    spec = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}[nd]
    return jax.lax.conv_general_dilated(
        x, w, stride, _pairs(padding, nd), rhs_dilation=dilation, dimension_numbers=spec, feature_group_count=groups
    )


@pytest.mark.parametrize("spatial, ksize, c_in, c_out, groups, stride, dilation, padding", NAIVE_CASES)
def test_conv_derivatives_equal_lax_conv_general_dilated(
    spatial, ksize, c_in, c_out, groups, stride, dilation, padding
):
    # conv's kernel derivative goes through its own rule (routed to Eigen on CPU): reverse mode (gradients),
    # forward mode (jvp) and second order (hessian-vector) must equal lax's.
    kx, kw, kt, ku = jax.random.split(jax.random.key(1), 4)
    x = jax.random.normal(kx, (2, *spatial, c_in))
    w = jax.random.normal(kw, (*ksize, c_in // groups, c_out))
    geometry = dict(stride=stride, padding=_pairs(padding, len(spatial)), dilation=dilation, groups=groups)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.sin(conv(x, w, **geometry)))

    ours, ref = loss(F.conv), loss(_lax_reference)
    chex.assert_trees_all_close(
        jax.jit(jax.grad(ours, (0, 1)))(x, w), jax.grad(ref, (0, 1))(x, w), rtol=1e-5, atol=1e-5
    )
    tangents = (jax.random.normal(kt, x.shape), jax.random.normal(ku, w.shape))
    chex.assert_trees_all_close(jax.jvp(ours, (x, w), tangents), jax.jvp(ref, (x, w), tangents), rtol=1e-5, atol=1e-4)
    hvp = lambda f: jax.jvp(jax.grad(f, 1), (x, w), tangents)[1]
    chex.assert_trees_all_close(hvp(ours), hvp(ref), rtol=1e-4, atol=1e-4)


@pytest.fixture
def lax_route(monkeypatch):
    """conv's lax formulation, as without the oneDNN convolution (tests/functional/test_onednn_conv.py tests that)."""
    monkeypatch.setattr(importlib.import_module("cnnjax.functional.conv"), "_onednn_route", lambda *_: False)


def test_conv_kernel_gradient_is_left_to_eigen_under_the_fast_profile(lax_route):
    # Under the "fast" profile (tests/conftest.py), XLA's oneDNN rewriter takes the lax formulation's forward and
    # input-gradient convolutions; the kernel gradient must stay an XLA convolution (Eigen), where it measured
    # several times faster.
    x, w = jnp.ones((4, 8, 8, 3)), jnp.ones((3, 3, 3, 5))
    hlo = jax.jit(jax.grad(lambda x, w: jnp.sum(F.conv(x, w) ** 2), (0, 1))).lower(x, w).compile().as_text()
    assert hlo.count("__onednn$convolution") == 2  # forward, input gradient
    assert len([line for line in hlo.splitlines() if " convolution(" in line]) == 1  # the kernel gradient


def test_grouped_kernel_gradient_is_one_convolution_per_group_on_cpu(lax_route):
    # XLA:CPU's transposed grouped convolution (batch_group_count) measured 30-35x slower than per-group kernel
    # gradients; up to MAX_SPLIT_GROUPS groups, conv's kernel tangent is one convolution per group instead.
    from cnnjax.functional.conv import MAX_SPLIT_GROUPS

    def convolutions(groups, channels, grad):  # XLA convolution instructions (oneDNN's are custom calls)
        x, w = jnp.ones((2, 6, 6, channels)), jnp.ones((3, 3, channels // groups, channels))
        f = lambda w: jnp.sum(F.conv(x, w, groups=groups) ** 2)
        text = jax.jit(jax.grad(f) if grad else f).lower(w).compile().as_text()
        return len([line for line in text.splitlines() if " convolution(" in line])

    def kernel_gradient_convolutions(groups, channels):
        return convolutions(groups, channels, grad=True) - convolutions(groups, channels, grad=False)

    assert kernel_gradient_convolutions(2, 4) == 2
    assert kernel_gradient_convolutions(3, 6) == 3
    depthwise = 2 * MAX_SPLIT_GROUPS  # more groups: the single grouped formulation stays
    assert kernel_gradient_convolutions(depthwise, depthwise) == 1
