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
