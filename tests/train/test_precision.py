"""config.precision and config.matmul_precision: the compute dtype follows the inputs, parameters, optimiser state,
loss and batch-norm statistics stay float32, float16 scales its loss dynamically."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import functional as F
from cnnjax.train import Checkpointer, optim, train_and_evaluate
from cnnjax.train.step import with_matmul_precision

from .helpers import TinyNet, tiny_config, tiny_dataset


def test_batch_norm_reduces_low_precision_inputs_in_float32():
    x = jax.random.normal(jax.random.key(0), (64, 4, 4, 3)) * 30 + 100  # a large mean: E[x^2] - E[x]^2 in bf16 fails
    low = x.astype(jnp.bfloat16)
    state = {"mean": jnp.zeros(3), "var": jnp.ones(3)}
    params = {"scale": jnp.ones(3, jnp.bfloat16), "bias": jnp.zeros(3, jnp.bfloat16)}
    y, new = F.batch_norm(low, params, state, train=True)
    y32, new32 = F.batch_norm(
        low.astype(jnp.float32), jax.tree.map(lambda p: p.astype(jnp.float32), params), state, train=True
    )
    assert y.dtype == jnp.bfloat16 and new["mean"].dtype == new["var"].dtype == jnp.float32
    np.testing.assert_array_equal(new["mean"], new32["mean"])
    np.testing.assert_array_equal(new["var"], new32["var"])
    np.testing.assert_array_equal(y, y32.astype(jnp.bfloat16))
    spread = jnp.var(low.astype(jnp.float32), axis=(0, 1, 2))
    np.testing.assert_allclose(new["var"], 0.9 + 0.1 * spread, rtol=1e-3)  # the variance, not rounding noise


def test_the_loss_scale_halves_on_overflow_and_doubles_after_a_period_of_finite_steps():
    tx = optax.chain(optim.dynamic_loss_scale(initial=8.0, period=2), optax.apply_if_finite(optax.sgd(1.0), 2**30))
    params = {"w": jnp.ones(2)}
    state = tx.init(params)
    scales, updates = [], []
    for grad in (jnp.inf, 1.0, 1.0, jnp.nan, 1.0):
        update, state = tx.update({"w": jnp.full(2, grad)}, state, params)
        scales.append(float(optim.loss_scale(state)))
        updates.append(float(update["w"][0]))
    assert scales == [4.0, 4.0, 8.0, 4.0, 4.0]
    assert updates == [0.0, -1.0, -1.0, 0.0, -1.0]  # the overflowing steps change nothing
    assert float(optim.loss_scale(optax.sgd(0.1).init(params))) == 1.0


def test_matmul_precision_reaches_the_lowered_step():
    def matmul(a, b):
        return a @ b

    a = jnp.ones((4, 4))
    assert "HIGHEST" in jax.jit(with_matmul_precision(matmul, "highest")).lower(a, a).as_text()
    assert "HIGHEST" not in jax.jit(with_matmul_precision(matmul, "")).lower(a, a).as_text()


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_a_low_precision_run_trains_on_float32_state(precision, tmp_path):
    model = TinyNet(batch_norm=True)
    settings = {"precision": precision, "num_epochs": 2}
    final = train_and_evaluate(tiny_config(**settings), tmp_path, dataset=tiny_dataset(), model=model)
    state = Checkpointer(tmp_path / "checkpoints", keep=1).read()[0]
    dtypes = {leaf.dtype for leaf in jax.tree.leaves((state["params"], state["batch_stats"], state["opt_state"]))}
    assert dtypes <= {np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.uint32), np.dtype(bool)}
    reference = train_and_evaluate(tiny_config(num_epochs=2), tmp_path / "float32", dataset=tiny_dataset(), model=model)
    assert final["test_accuracy"] > 0.5 and abs(final["test_accuracy"] - reference["test_accuracy"]) < 0.1


def test_raw_mean_scaling_subtracts_the_mean_pixel_and_keeps_the_0_255_range():
    from cnnjax.train import make_preprocess

    from .helpers import tiny_config

    dataset = tiny_dataset()
    images = jnp.asarray(np.array([[[[0]], [[255]]]], np.uint8))  # (1, 2, 1, 1)
    raw = make_preprocess(tiny_config().augment, dataset, scaling="raw_mean").normalize(images)
    np.testing.assert_allclose(
        np.asarray(raw).ravel(), [-255 * dataset.mean[0], 255 * (1 - dataset.mean[0])], rtol=1e-6
    )
    standard = make_preprocess(tiny_config().augment, dataset).normalize(images)
    np.testing.assert_allclose(np.asarray(standard).ravel() * dataset.std[0] * 255, np.asarray(raw).ravel(), rtol=1e-5)
