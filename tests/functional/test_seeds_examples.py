"""Worked examples from lecture notes on CNNs, as test vectors; each test names its source and section: Larson
(basic CNNs), lecture 10 (CNNs), NYU summer STEM (day 8), Bhattacharya (CS60020), Gao (William & Mary). A CNN
layer's "convolution" is cross-correlation (`conv`); the mathematical convolution (Gao) is
`conv(x, flip(w), padding=k - 1)`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F
from cnnjax import nn


def conv2d(image, kernel, **kwargs):
    """A single-channel 2-D cross-correlation of (H, W) arrays through `conv`."""
    image, kernel = np.asarray(image, np.float32), np.asarray(kernel, np.float32)
    return np.asarray(F.conv(image[None, :, :, None], kernel[:, :, None, None], **kwargs))[0, :, :, 0]


def true_convolution(a, b):
    """The mathematical (flipped, full) convolution (Gao) through `conv`, for 1-D or 2-D arrays."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    flipped = np.flip(b)
    y = F.conv(a[None, ..., None], flipped[..., None, None], padding=[k - 1 for k in b.shape])
    return np.asarray(y)[0, ..., 0]


def max_pool2d(image, window=2):
    return np.asarray(F.max_pool(np.asarray(image)[None, :, :, None], window))[0, :, :, 0]


LARSON_IMAGE = np.array(
    [
        [1, 2, 3, 4, 12, 9, 8],
        [5, 2, 3, 4, 12, 9, 8],
        [5, 2, 1, 4, 10, 9, 8],
        [7, 2, 1, 4, 12, 7, 8],
        [7, 2, 1, 4, 14, 9, 8],
        [5, 2, 3, 4, 12, 7, 8],
        [5, 2, 1, 4, 12, 9, 8],
    ]
)
GAUSSIAN = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_gaussian_on_zero_padded_7x7_image():
    """Larson, basic CNNs ('Reminder: Convolution'): the 7x7 image zero-padded by 1, kernel
    [[1,2,1],[2,4,2],[1,2,1]].

    The slide's first output row reads 20, 21, 36; the second value is 28, not 21. By hand, O[0, 1] is centred on
    input (0, 1); its window has the zero padding row on top, then input rows 0 and 1 at columns 0..2:
      padding row:   0, 0, 0                   x (1, 2, 1) =  0
      row 0:         1, 2, 3                   x (2, 4, 2) =  2 + 8 + 6 = 16
      row 1:         5, 2, 3                   x (1, 2, 1) =  5 + 4 + 3 = 12
                                                            total      = 28
    (O[0, 0] = 1*4 + 2*2 + 5*2 + 2*1 = 20 and O[0, 2] = 4 + 12 + 8 + 2 + 6 + 4 = 36 agree with the slide.)
    """
    out = conv2d(LARSON_IMAGE, GAUSSIAN, padding=1)
    np.testing.assert_array_equal(out[0, :3], [20, 28, 36])
    padded = np.pad(LARSON_IMAGE, 1)
    loop = np.zeros((7, 7))
    for i in range(7):
        for j in range(7):
            loop[i, j] = np.sum(padded[i : i + 3, j : j + 3] * GAUSSIAN)
    np.testing.assert_array_equal(out, loop)
    np.testing.assert_array_equal(conv2d(LARSON_IMAGE, GAUSSIAN, padding="SAME"), loop)


def test_sobel_example_gives_2():
    """Bhattacharya, CS60020 ('Kernel: 3x3 Example'): input [[3,2,1],[1,2,3],[1,1,1]], Sobel kernel
    -> -3 + 1 - 2 + 6 - 1 + 1 = 2."""
    out = conv2d([[3, 2, 1], [1, 2, 3], [1, 1, 1]], F.fixed_filter("sobel_x"), padding="VALID")
    np.testing.assert_array_equal(out, [[2]])


def test_convolved_feature():
    """Bhattacharya, CS60020 ('What is convolution of an image with a filter'): kernel
    [[1,0,1],[0,1,0],[1,0,1]] on the 5x5 binary image gives the 'convolved feature' [[4,3,4],[2,4,3],[2,3,4]]."""
    image = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
    out = conv2d(image, [[1, 0, 1], [0, 1, 0], [1, 0, 1]], padding="VALID")
    np.testing.assert_array_equal(out, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


PAD_IMAGE = [[1, 2, 0, 3, 1], [1, 0, 0, 2, 2], [2, 1, 2, 1, 1], [0, 0, 1, 0, 0], [1, 2, 1, 1, 1]]
PAD_KERNEL = [[-1, 1, 2], [1, 1, 0], [-1, -2, 0]]


def test_padding_and_stride_examples():
    """Bhattacharya, CS60020 ('Convolution Settings - Padding', 'Stride 2 Example'), the 5x5 input and
    kernel [[-1,1,2],[1,1,0],[-1,-2,0]]:
      no padding:          3x3 output, first value -1+2+0 + 1+0+0 - 2-2+0 = -2;
      padding 1:           5x5 output, first value (0 row) + (0+1+0) + (0-2+0) = -1;
      stride 2, padding 1: 3x3 output [[-1, 2, .], [3, ., .], ...]; stride 2, no padding: 2x2.
    """
    valid = conv2d(PAD_IMAGE, PAD_KERNEL, padding=0)
    assert valid.shape == (3, 3) and valid[0, 0] == -2
    padded = conv2d(PAD_IMAGE, PAD_KERNEL, padding=1)
    assert padded.shape == (5, 5) and padded[0, 0] == -1
    strided = conv2d(PAD_IMAGE, PAD_KERNEL, padding=1, stride=2)
    assert strided.shape == (3, 3)
    np.testing.assert_array_equal([strided[0, 0], strided[0, 1], strided[1, 0]], [-1, 2, 3])
    np.testing.assert_array_equal(strided, padded[::2, ::2])  # stride 2 keeps every other output
    assert conv2d(PAD_IMAGE, PAD_KERNEL, padding=0, stride=2).shape == (2, 2)


def test_2x2_sliding_window_by_hand():
    """NYU summer STEM, day 8 ('Convolution'): [[1,1],[2,2]] * ones(2, 2) -> 6; on the image numbered
    1..6 / 7..12 a 2x2 filter gives o1 = w1 + 2 w2 + 7 w3 + 8 w4 and o2 = 2 w1 + 3 w2 + 8 w3 + 9 w4."""
    assert conv2d([[1, 1], [2, 2]], np.ones((2, 2)), padding="VALID")[0, 0] == 6
    image = np.arange(1, 13).reshape(2, 6)
    w1, w2, w3, w4 = 0.5, -1.0, 2.0, 3.0
    out = conv2d(image, [[w1, w2], [w3, w4]], padding="VALID")
    np.testing.assert_allclose(out[0, :2], [w1 + 2 * w2 + 7 * w3 + 8 * w4, 2 * w1 + 3 * w2 + 8 * w3 + 9 * w4])


def test_max_pool_2x2_example():
    """Bhattacharya, CS60020 ('Pooling Layer'): max pool with 2x2 filters and stride 2
    -> [[6, 8], [3, 4]]."""
    out = max_pool2d([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    np.testing.assert_array_equal(out, [[6, 8], [3, 4]])


def test_max_pool_and_translation():
    """NYU summer STEM, day 8 ('Max-Pooling', 'Provides translation invariance. Why?'): A pools to
    [[20,30],[112,37]]; B, A shifted right by one column (a zero column in front, the last column dropped), pools to
    [[12,30],[112,100]].

    Half of the pooled cells (30 and 112) survive the shift unchanged, and the pooled maps are closer (in mean
    squared error) than the images themselves: pooling buys stability to small translations, not exact invariance.
    """
    a = np.array([[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]])
    b = np.concatenate([np.zeros((4, 1), a.dtype), a[:, :-1]], axis=1)
    pa, pb = max_pool2d(a), max_pool2d(b)  # integer images, as printed
    np.testing.assert_array_equal(pa, [[20, 30], [112, 37]])
    np.testing.assert_array_equal(pb, [[12, 30], [112, 100]])
    assert pa[0, 1] == pb[0, 1] and pa[1, 0] == pb[1, 0]
    assert np.mean((pa - pb) ** 2.0) < np.mean((a - b) ** 2.0)


def test_1d_convolution_and_its_matrix():
    """Gao, William & Mary ('Let's look at the 1-D case first'): (2, -1, 1) * (1, 1, 2) =
    (2, 1, 4, -1, 2), also as the product of the 5x3 Toeplitz matrix [[1,0,0],[1,1,0],[2,1,1],[0,2,1],[0,0,2]]
    with (2, -1, 1)."""
    a, b = np.array([2.0, -1.0, 1.0]), np.array([1.0, 1.0, 2.0])
    np.testing.assert_array_equal(true_convolution(a, b), [2, 1, 4, -1, 2])
    np.testing.assert_array_equal(np.convolve(a, b), [2, 1, 4, -1, 2])
    # conv_matrix of the flipped kernel with full padding, on a 1 x 3 image: Gao's matrix.
    kernel = np.flip(b).reshape(1, 3, 1, 1)
    matrix = F.conv_matrix(kernel, (1, 3, 1), padding=((0, 0), (2, 2)))
    toeplitz = np.array([[1, 0, 0], [1, 1, 0], [2, 1, 1], [0, 2, 1], [0, 0, 2]])
    np.testing.assert_array_equal(matrix, toeplitz)
    np.testing.assert_array_equal(matrix @ a, [2, 1, 4, -1, 2])


def test_convolution_is_commutative_and_linear():
    """Gao, William & Mary ('Some properties of convolution'): a * b = b * a (1) and
    a * (l1 b + l2 c) = l1 a*b + l2 a*c (2)."""
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 5)).astype(np.float32)
    np.testing.assert_allclose(true_convolution(a, b), true_convolution(b, a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        true_convolution(a, 2.0 * b - 0.5 * c),
        2.0 * true_convolution(a, b) - 0.5 * true_convolution(a, c),
        rtol=1e-5,
        atol=1e-5,
    )
    a2, b2 = rng.normal(size=(3, 3)), rng.normal(size=(2, 2))
    np.testing.assert_allclose(true_convolution(a2, b2), true_convolution(b2, a2), rtol=1e-5, atol=1e-5)


def test_2d_convolution_example():
    """Gao, William & Mary ('2-D Convolution'): [[1,3,1],[0,-1,1],[2,2,-1]] * [[1,2],[0,-1]] =
    [[1,5,7,2],[0,-2,-4,1],[2,6,4,-3],[0,-2,-2,1]] (flipped kernel, full padding)."""
    out = true_convolution([[1, 3, 1], [0, -1, 1], [2, 2, -1]], [[1, 2], [0, -1]])
    np.testing.assert_array_equal(out, [[1, 5, 7, 2], [0, -2, -4, 1], [2, 6, 4, -3], [0, -2, -2, 1]])


def test_output_volume_32x32x3_ten_5x5_filters():
    """Bhattacharya, CS60020 ('Convolution layer examples'): 32x32x3 input, ten 5x5 filters, stride 1,
    pad 2 -> 32x32x10 ((32 + 2*2 - 5)/1 + 1 = 32); lecture 10, CNNs: six 5x5x3 filters, no padding
    -> 28x28x6."""
    x = jnp.zeros((1, 32, 32, 3))
    assert F.conv(x, jnp.zeros((5, 5, 3, 10)), stride=1, padding=2).shape == (1, 32, 32, 10)
    assert F.conv_output_size(32, 5, stride=1, padding=2) == 32
    assert F.conv(x, jnp.zeros((5, 5, 3, 6)), padding="VALID").shape == (1, 28, 28, 6)


def test_7x7_input_3x3_filter_strides():
    """Bhattacharya, CS60020 ('Details about the convolution layer'): (N - F)/stride + 1 with N = 7,
    F = 3: stride 1 -> 5, stride 2 -> 3, stride 3 -> 2.33: 'doesn't fit!'."""
    assert F.conv_output_size(7, 3, stride=1, strict=True) == 5
    assert F.conv_output_size(7, 3, stride=2, strict=True) == 3
    with pytest.raises(ValueError, match=r"stride: a 3-wide window with stride 3 does not fit an input of 7"):
        F.conv_output_size(7, 3, stride=3, strict=True)
    assert F.conv_output_size(7, 3, stride=3) == 2  # non-strict: floor, the last column is never read
    x = jnp.zeros((1, 7, 7, 1))
    for stride, size in [(1, 5), (2, 3), (3, 2)]:
        assert F.conv(x, jnp.zeros((3, 3, 1, 1)), stride=stride, padding="VALID").shape[1:3] == (size, size)


@pytest.mark.parametrize("f", [3, 5, 7])
def test_zero_padding_f_minus_1_over_2_preserves_size(f):
    """Bhattacharya, CS60020 ('In practice: Common to zero pad the border'): stride 1, F x F filters and
    zero-padding (F - 1)/2 preserve the 7x7 input size (F = 3, 5, 7)."""
    assert F.conv_output_size(7, f, stride=1, padding=(f - 1) // 2, strict=True) == 7
    assert F.conv(jnp.zeros((1, 7, 7, 2)), jnp.zeros((f, f, 2, 4)), padding=(f - 1) // 2).shape == (1, 7, 7, 4)


def _count(module, x):
    """Number of parameters `module.init` creates (run abstractly by eval_shape: shapes only, no initialiser
    compiled)."""
    params = jax.eval_shape(lambda: module.init(jax.random.key(0), x))["params"]
    return sum(p.size for p in jax.tree.leaves(params))


def test_9x9_image_parameter_counts():
    """Larson, basic CNNs ('Simple Example: From Fully Connected to CNN'), no biases: an MLP 81-20-10
    has 20 * 9^2 + 20 * 10 = 1,820 weights; three 3x3 filters with stride 3 give 3 * 3 * 3 = 27 features, and
    27 + 27 * 20 + 20 * 10 = 767."""
    x = jnp.zeros((1, 9, 9, 1))
    mlp = nn.Sequential([nn.Flatten(), nn.Dense(20, use_bias=False), nn.Dense(10, use_bias=False)])
    cnn = nn.Sequential(
        [
            nn.Conv(3, 3, stride=3, padding="VALID", use_bias=False),
            nn.Flatten(),
            nn.Dense(20, use_bias=False),
            nn.Dense(10, use_bias=False),
        ]
    )
    assert _count(mlp, x) == 1820
    assert _count(cnn, x) == 767
    variables = jax.eval_shape(lambda: cnn.init(jax.random.key(0), x))
    assert jax.eval_shape(cnn.apply, variables, x).shape == (1, 10)


def test_weights_per_filter():
    """Bhattacharya, CS60020 ('Convolutional Settings - Depth'): a 5x5 kernel on an RGB image has
    5 * 5 * 3 = 75 weights; Larson, basic CNNs ('3x3x3 = 27 weights') and
    lecture 10, CNNs ('Knowledge Check: how many parameters does each filter have?'): 27; and
    lecture 10's h = sum_ijk x_ijk W_ijk + b adds one bias per filter."""
    assert _count(nn.Conv(1, 5, use_bias=False), jnp.zeros((1, 8, 8, 3))) == 75
    assert _count(nn.Conv(1, 3, use_bias=False), jnp.zeros((1, 8, 8, 3))) == 27
    assert _count(nn.Conv(10, 3), jnp.zeros((1, 8, 8, 3))) == 10 * (27 + 1)


def test_backprop_example():
    """Bhattacharya, CS60020 ('Backpropagation for neural nets'): w = (1, 2, 3), x = (0.1, 0.15, 0.2),
    y = 1, s = x.w = 1, y_hat = sigmoid(1) = 0.73, L = (y_hat - y)^2:
    dL/dw1 = 2 (sigmoid(1) - 1) sigmoid'(1) x1 = -0.0106."""
    x = jnp.array([[0.1, 0.15, 0.2]])
    w = jnp.array([[1.0], [2.0], [3.0]])

    def loss(w):
        y_hat = F.sigmoid(F.linear(x, w))
        return F.l2_loss(y_hat, jnp.ones((1, 1)))[0]

    y_hat = F.sigmoid(F.linear(x, w))
    assert round(float(F.linear(x, w)[0, 0]), 6) == 1.0
    assert round(float(y_hat[0, 0]), 2) == 0.73
    grad = jax.grad(loss)(w)
    assert round(float(grad[0, 0]), 4) == -0.0106
    s = 1.0 / (1.0 + np.exp(-1.0))
    np.testing.assert_allclose(grad[:, 0], 2 * (s - 1) * s * (1 - s) * np.array([0.1, 0.15, 0.2]), rtol=1e-5)
