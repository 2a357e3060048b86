"""Shared helpers of the cnnjax.nn tests."""

import jax
import jax.numpy as jnp
import numpy as np

KEY = jax.random.key(0)


def _input(*shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _shapes(tree):
    return jax.tree.map(jnp.shape, tree)


def _variables(module, x, seed=1, **kwargs):
    """The module's variables with random values (zero biases and unit scales would hide a missing term).

    `jax.eval_shape(module.init)` runs `init` abstractly: the same parameter declarations, without compiling the
    initialisers (seconds per kernel shape on CPU); `test_sequential_*` runs a real `init`.
    """
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: module.init(KEY, x, **kwargs))
    return jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), shapes)
