"""cnnjax.nn.layers: parameter-free modules equal their functional op; BatchNorm's variables and modes; Dropout's
stream; Sequential; jit; errors name the field."""

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F
from cnnjax import nn

from .helpers import KEY, _input, _shapes, _variables

PARAMETER_FREE = [  # module, the functional op it must equal
    (nn.MaxPool(3, 2, padding=1, ceil_mode=True), lambda x: F.max_pool(x, 3, 2, 1, ceil_mode=True)),
    (nn.AvgPool(3, 2, padding=1, count_include_pad=False), lambda x: F.avg_pool(x, 3, 2, 1, count_include_pad=False)),
    (nn.AvgPool(2), lambda x: F.avg_pool(x, 2)),
    (nn.LpPool(2, p=3.0), lambda x: F.lp_pool(x, 2, p=3.0)),
    (nn.GlobalAvgPool(), F.global_avg_pool),
    (nn.AdaptiveAvgPool((2, 3)), lambda x: F.adaptive_avg_pool(x, (2, 3))),
    (nn.ChannelMaxPool(2), lambda x: F.channel_max_pool(x, 2)),
    (
        nn.LocalResponseNorm(size=3, alpha=0.1, beta=0.5, k=1.0, average=True),
        lambda x: F.local_response_norm(x, 3, 0.1, 0.5, 1.0, average=True),
    ),
    (nn.LocalResponseNorm(), F.local_response_norm),
    (nn.Flatten(), lambda x: x.reshape(x.shape[0], -1)),
    (nn.Lambda(F.relu), F.relu),
]


@pytest.mark.parametrize("module, op", PARAMETER_FREE, ids=[type(m).__name__ for m, _ in PARAMETER_FREE])
def test_parameter_free_modules_equal_their_functional_op(module, op):
    x = _input(2, 7, 7, 4) * 3
    variables = module.init(KEY, x)
    assert jax.tree.leaves(variables) == []
    np.testing.assert_allclose(module.apply(variables, x), op(x), rtol=1e-6)


def test_batch_norm_variables():
    x = _input(4, 3, 3, 5)
    assert _shapes(nn.BatchNorm().init(KEY, x)) == {
        "params": {"scale": (5,), "bias": (5,)},
        "batch_stats": {"mean": (5,), "var": (5,)},
    }
    assert "scale" not in nn.BatchNorm(use_scale=False).init(KEY, x)["params"]
    assert "bias" not in nn.BatchNorm(use_bias=False).init(KEY, x)["params"]
    stats = nn.BatchNorm().init(KEY, x, train=True)["batch_stats"]  # initialising in training changes nothing
    np.testing.assert_array_equal(stats["mean"], np.zeros(5))
    np.testing.assert_array_equal(stats["var"], np.ones(5))


def test_batch_norm_train_and_eval_equal_the_functional_op():
    x = _input(8, 3, 3, 5) * 2 + 1
    module = nn.BatchNorm(momentum=0.7, epsilon=1e-3)
    variables = _variables(module, x)
    variables["batch_stats"]["var"] = jnp.abs(variables["batch_stats"]["var"]) + 0.5
    params, stats = variables["params"], variables["batch_stats"]

    y, updates = module.apply(variables, x, train=True, mutable=["batch_stats"])
    expected, new_stats = F.batch_norm(x, params, stats, train=True, momentum=0.7, eps=1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(updates["batch_stats"], new_stats, rtol=1e-6)

    y_eval, same = module.apply(variables, x, train=False, mutable=["batch_stats"])
    np.testing.assert_allclose(y_eval, F.batch_norm(x, params, stats, train=False, eps=1e-3)[0], rtol=1e-5)
    chex.assert_trees_all_equal(same["batch_stats"], stats)  # eval never updates the running statistics
    np.testing.assert_allclose(module.apply(variables, x), y_eval, rtol=1e-6)  # train defaults to False


def test_batch_norm_training_needs_mutable_batch_stats():
    module = nn.BatchNorm()
    x = _input(4, 3)
    with pytest.raises(flax.errors.ModifyScopeVariableError):
        module.apply(module.init(KEY, x), x, train=True)


def test_dropout_draws_from_the_dropout_rng_stream():
    x = jnp.full((64, 64), 2.0)
    module = nn.Dropout(0.25)
    variables = module.init(KEY, x)
    assert jax.tree.leaves(variables) == []
    np.testing.assert_array_equal(module.apply(variables, x), x)  # eval: identity, no rng needed
    np.testing.assert_array_equal(nn.Dropout(0.0).apply({}, x, train=True), x)  # rate 0: no rng needed
    with pytest.raises(flax.errors.InvalidRngError):
        module.apply(variables, x, train=True)
    a = module.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1), "params": jax.random.key(5)})
    b = module.apply(variables, x, train=True, rngs={"dropout": jax.random.key(1), "params": jax.random.key(6)})
    c = module.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2), "params": jax.random.key(5)})
    np.testing.assert_array_equal(a, b)  # the mask depends on the 'dropout' key only
    assert not np.array_equal(a, c)
    values = np.unique(np.asarray(a))
    np.testing.assert_allclose(values, [0.0, 2.0 / 0.75], rtol=1e-6)  # inverted dropout, as F.dropout
    assert abs(np.mean(np.asarray(a) == 0) - 0.25) < 0.03


def _train_only_doubling(x, *, train):
    """A plain function that takes `train`: Sequential must pass it."""
    return x * 2.0 if train else x


def _sequential():
    return nn.Sequential(
        [
            nn.Conv(4, 3),
            F.relu,  # a plain function without `train`
            nn.Dropout(0.5),
            nn.BatchNorm(),
            nn.Flatten(),
            nn.Lambda(jnp.tanh),
            _train_only_doubling,
            nn.Dense(3),
        ]
    )


def test_sequential_passes_train_only_to_layers_that_take_it():
    """Conv, relu, Lambda, Flatten and Dense would raise a TypeError if given `train`; Dropout, BatchNorm and the
    plain function with a `train` argument must see it."""
    x = _input(2, 5, 5, 2)
    model = _sequential()
    variables = jax.tree.map(lambda p: p + 0.1, model.init(KEY, x))  # a real init
    variables["batch_stats"] = jax.tree.map(lambda s: jnp.abs(s) + 0.5, variables["batch_stats"])
    assert sorted(variables["params"]) == ["layers_0", "layers_3", "layers_7"]
    p, stats = variables["params"], variables["batch_stats"]["layers_3"]

    def manual(train):  # the same network from functional ops, dropout left out
        h = F.relu(F.conv(x, p["layers_0"]["kernel"], p["layers_0"]["bias"]))
        h = jnp.tanh(F.batch_norm(h, p["layers_3"], stats, train=train)[0].reshape(2, -1))
        return F.linear(_train_only_doubling(h, train=train), p["layers_7"]["kernel"], p["layers_7"]["bias"])

    np.testing.assert_allclose(model.apply(variables, x), manual(False), rtol=1e-5, atol=1e-6)

    # Training: Dropout draws a mask (the output depends on the 'dropout' key), BatchNorm updates its statistics.
    train = lambda k: model.apply(variables, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"])
    (y1, updates), (y2, _) = train(jax.random.key(1)), train(jax.random.key(2))
    assert not np.allclose(y1, y2, atol=1e-3)
    assert not np.allclose(updates["batch_stats"]["layers_3"]["mean"], stats["mean"])

    # Without the Dropout layer, the training output is exactly the functional one with train=True: batch
    # statistics and the doubling of the plain function.
    no_dropout = nn.Sequential([layer for layer in _sequential().layers if not isinstance(layer, nn.Dropout)])
    renamed = {
        "params": {"layers_0": p["layers_0"], "layers_2": p["layers_3"], "layers_6": p["layers_7"]},
        "batch_stats": {"layers_2": stats},
    }
    y_train, _ = no_dropout.apply(renamed, x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(y_train, manual(True), rtol=1e-5, atol=1e-5)


def test_apply_under_jit_equals_eager():
    x = _input(2, 5, 5, 2)
    model = _sequential()
    variables = model.init(KEY, x)
    eval_fn = jax.jit(lambda v, x: model.apply(v, x))
    train_fn = jax.jit(lambda v, x, k: model.apply(v, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"]))
    np.testing.assert_allclose(eval_fn(variables, x), model.apply(variables, x), rtol=1e-5, atol=1e-6)
    jitted, eager = (
        train_fn(variables, x, KEY),
        model.apply(variables, x, train=True, rngs={"dropout": KEY}, mutable=["batch_stats"]),
    )
    chex.assert_trees_all_close(jitted, eager, rtol=1e-5, atol=1e-6)


def test_module_errors_name_the_field():
    with pytest.raises(ValueError, match=r"groups: expected a divisor of the 5 input channels, got 2"):
        nn.Conv(4, 3, groups=2).init(KEY, _input(1, 5, 5, 5))
    with pytest.raises(ValueError, match=r"kernel_size: expected 2 values \(one per spatial dimension\), got 3"):
        nn.Conv(4, (3, 3, 3)).init(KEY, _input(1, 5, 5, 5))
    with pytest.raises(ValueError, match=r"rate: expected a drop probability in \[0, 1\), got 1.5"):
        nn.Dropout(1.5).init(KEY, _input(2, 3))
