"""cnnjax.functional.checks: the named scopes every op runs under, and the argument helpers' edge cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F
from cnnjax.functional import checks

x4 = jnp.ones((2, 6, 6, 3))
w4 = jnp.ones((3, 3, 3, 4))
state = {"mean": jnp.zeros(3), "var": jnp.ones(3)}

OPS = [
    ("conv", lambda x: F.conv(x, w4)),
    ("conv_transpose", lambda x: F.conv_transpose(x, w4)),
    ("linear", lambda x: F.linear(x.reshape(2, -1), jnp.ones((108, 2)))),
    ("max_pool", lambda x: F.max_pool(x, 2)),
    ("avg_pool", lambda x: F.avg_pool(x, 2)),
    ("lp_pool", lambda x: F.lp_pool(x, 2)),
    ("global_avg_pool", F.global_avg_pool),
    ("adaptive_avg_pool", lambda x: F.adaptive_avg_pool(x, 4)),
    ("batch_norm", lambda x: F.batch_norm(x, {}, state, train=True)[0]),
    ("local_response_norm", F.local_response_norm),
    ("dropout", lambda x: F.dropout(jax.random.key(0), x, 0.5, train=True)),
    ("relu", F.relu),
    ("softmax_cross_entropy", lambda x: F.softmax_cross_entropy(x.reshape(2, -1), jnp.zeros(2, jnp.int32))),
]


@pytest.mark.parametrize("name, fn", OPS, ids=[name for name, _ in OPS])
def test_each_op_runs_under_its_named_scope(name, fn):
    text = jax.jit(fn).lower(x4).as_text(debug_info=True)
    assert f"cnnjax/{name}" in text


def test_named_op_keeps_the_signature_and_docstring():
    assert F.conv.__name__ == "conv" and "cross-correlation" in F.conv.__doc__


@pytest.mark.parametrize(
    "value, expected", [(2, (2, 2)), ((1, 3), (1, 3)), (np.int64(2), (2, 2)), (np.array([1, 2]), (1, 2))]
)
def test_as_tuple_accepts_python_and_numpy_ints(value, expected):
    assert checks.as_tuple(value, 2, "stride") == expected


@pytest.mark.parametrize(
    "padding, pairs", [(1, [(1, 1), (1, 1)]), ((1, (0, 2)), [(1, 1), (0, 2)]), ("valid", [(0, 0)] * 2)]
)
def test_padding_pairs(padding, pairs):
    assert checks.padding_pairs(padding, (5, 5), (3, 3), (1, 1)) == pairs


# (id, windowed op on x4 (2, 6, 6, 3), the Window it declares)
WINDOWED = [
    (
        "conv",
        lambda x: F.conv(x, jnp.ones((3, 2, 3, 4)), stride=(2, 1), dilation=(1, 2)),
        checks.Window((3, 2), (2, 1), (1, 2), (1, 1)),
    ),
    (
        "conv_transpose",
        lambda x: F.conv_transpose(x, jnp.ones((4, 4, 3, 2)), stride=2),
        checks.Window((4, 4), (1, 1), (1, 1), (2, 2)),
    ),
    (
        "locally_connected",
        lambda x: F.locally_connected(x, jnp.ones((3, 3, 12, 2)), kernel_size=2, stride=2),
        checks.Window((2, 2), (2, 2), (1, 1), (1, 1)),
    ),
    ("max_pool-tiled", lambda x: F.max_pool(x, 2), checks.Window((2, 2), (2, 2), (1, 1), (1, 1))),
    ("max_pool-overlapping", lambda x: F.max_pool(x, 3, 2, 1), checks.Window((3, 3), (2, 2), (1, 1), (1, 1))),
    ("avg_pool", lambda x: F.avg_pool(x, (3, 2), 1), checks.Window((3, 2), (1, 1), (1, 1), (1, 1))),
    ("lp_pool", lambda x: F.lp_pool(x, 2, (1, 2)), checks.Window((2, 2), (1, 2), (1, 1), (1, 1))),
]


@pytest.mark.parametrize("op, window", [c[1:] for c in WINDOWED], ids=[c[0] for c in WINDOWED])
def test_windowed_ops_declare_their_window(op, window):
    """Each windowed op shows an observer its input, output and window; the op's output is what the observer
    returns (here the output itself: nothing else changes)."""
    seen = []

    def observer(x, y, w):
        seen.append((x.shape, w))
        return y

    with checks.observe_windows(observer):
        y = op(x4)
    assert seen == [(x4.shape, window)]
    np.testing.assert_array_equal(y, op(x4))


def test_the_observer_returns_the_ops_output_and_ends_with_its_block():
    with checks.observe_windows(lambda x, y, w: y + 1.0):
        shifted = F.max_pool(x4, 2)
    np.testing.assert_array_equal(shifted, F.max_pool(x4, 2) + 1.0)
