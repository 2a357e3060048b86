"""Ghost batch norm: each group of `ghost_batch_size` examples is normalised by its own statistics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F
from cnnjax import models

STATE = {"mean": jnp.zeros(3), "var": jnp.ones(3)}


def test_each_group_is_normalised_as_a_batch_of_its_own():
    x = jax.random.normal(jax.random.key(0), (8, 4, 4, 3)) * jnp.arange(1, 9)[:, None, None, None]
    y, state = F.batch_norm(x, {}, STATE, train=True, ghost_batch_size=4)
    for group in (slice(0, 4), slice(4, 8)):
        alone, _ = F.batch_norm(x[group], {}, STATE, train=True)
        np.testing.assert_allclose(y[group], alone, rtol=1e-5, atol=1e-5)
    whole, _ = F.batch_norm(x, {}, STATE, train=True)
    assert not np.allclose(y, whole, atol=1e-2)
    halves = [F.batch_norm(x[g], {}, STATE, train=True)[1] for g in (slice(0, 4), slice(4, 8))]
    np.testing.assert_allclose(state["mean"], (halves[0]["mean"] + halves[1]["mean"]) / 2, rtol=1e-5)


def test_a_group_size_that_does_not_divide_the_batch_is_refused():
    with pytest.raises(ValueError, match=r"ghost_batch_size: expected a positive divisor of the batch 8, got 3"):
        F.batch_norm(jnp.ones((8, 2, 2, 3)), {}, STATE, train=True, ghost_batch_size=3)


def test_a_resnet_with_ghost_batch_norm_normalises_per_group_in_training_only():
    model = models.create("resnet20", ghost_batch_size=2)
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    variables = model.init(jax.random.key(2), x)
    ghost, _ = model.apply(variables, x, train=True, mutable=["batch_stats"])
    plain, _ = models.create("resnet20").apply(variables, x, train=True, mutable=["batch_stats"])
    assert not np.allclose(ghost, plain, atol=1e-4)
    np.testing.assert_array_equal(model.apply(variables, x), models.create("resnet20").apply(variables, x))
