"""cnnjax.nn.Module: parameters in `param_dtype`, computation in `dtype`; a clear error for variables of another
shape; every module with variables shares the base."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import nn
from cnnjax.nn.base import VariableShapeError

X = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 3)), jnp.float32)


@pytest.mark.parametrize(
    "module, x",
    [
        (nn.Conv(4, 3, dtype=jnp.bfloat16), X),
        (nn.Dense(5, dtype=jnp.bfloat16), X.reshape(2, -1)),
        (nn.ConvTranspose(4, 3, stride=2, dtype=jnp.bfloat16), X),
        (nn.LocallyConnected(4, 3, dtype=jnp.bfloat16), X),
        (nn.BatchNorm(dtype=jnp.bfloat16), X),
    ],
    ids=["Conv", "Dense", "ConvTranspose", "LocallyConnected", "BatchNorm"],
)
def test_bfloat16_compute_on_float32_parameters(module, x):
    variables = jax.eval_shape(module.init, jax.random.key(0), x)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    y = jax.eval_shape(module.apply, variables, x)
    assert y.dtype == jnp.bfloat16


def test_the_computation_follows_the_input_and_param_dtype_is_used():
    conv = nn.Conv(4, 3)
    assert (conv.dtype, conv.param_dtype) == (None, jnp.float32)
    variables = jax.eval_shape(conv.init, jax.random.key(0), X)
    assert variables["params"]["kernel"].dtype == jnp.float32
    assert jax.eval_shape(conv.apply, variables, X.astype(jnp.bfloat16)).dtype == jnp.bfloat16
    variables = jax.eval_shape(nn.Conv(4, 3, param_dtype=jnp.bfloat16).init, jax.random.key(0), X)
    assert variables["params"]["kernel"].dtype == jnp.bfloat16
    assert jax.eval_shape(conv.apply, jax.eval_shape(conv.init, jax.random.key(0), X), X).dtype == jnp.float32


def test_integer_images_are_cast_to_the_compute_dtype():
    image = jnp.full((1, 4, 4, 1), 200, jnp.uint8)
    conv = nn.Conv(1, 1, use_bias=False)
    variables = {"params": {"kernel": jnp.ones((1, 1, 1, 1))}}
    y = conv.apply(variables, image)
    assert y.dtype == jnp.float32 and float(y[0, 0, 0, 0]) == 200.0


def test_modules_with_variables_share_the_base():
    for module in (nn.Conv, nn.ConvTranspose, nn.LocallyConnected, nn.Dense, nn.BatchNorm):
        assert issubclass(module, nn.Module)
    # dtype fields are keyword-only: the positional fields keep their order
    assert nn.Conv(8, 3, 2).stride == 2


def test_variables_of_another_shape_name_the_layer_and_both_shapes():
    dense = nn.Dense(2)
    variables = {"params": {"kernel": jnp.ones((4, 2)), "bias": jnp.zeros(2)}}
    pattern = r"variables: expected kernel of shape \(3, 2\) for this input, got \(4, 2\)"
    with pytest.raises(VariableShapeError, match=pattern):
        dense.apply(variables, jnp.ones((1, 3)))
