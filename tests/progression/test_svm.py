"""The linear SVM: its objective decreases, it separates a separable set, and a seed fixes its bits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F
from experiments.progression.svm import SvmSpec, objective, predict, train_svm


def separable(n_per_class=60, classes=3, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 6
    x = np.concatenate([c + rng.normal(size=(n_per_class, dim)) * 0.5 for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(classes), n_per_class).astype(np.int32)
    return x, y


SPEC = SvmSpec(C=100.0, epochs=40, batch_size=30, lr=0.05)


def test_hinge_objective_decreases_and_separates_a_separable_set():
    x, y = separable()
    params, log = train_svm(jax.random.key(0), x, y, SPEC, num_classes=3)
    initial = {"w": jnp.zeros((5, 3)), "b": jnp.zeros(3)}
    reg = 1 / (SPEC.C * len(y))
    assert float(objective(initial, x, y, reg)) == pytest.approx(2.0)  # all scores 0: (K - 1) * margin
    assert log["objective"][-1] < 0.1 * log["objective"][0]
    assert log["objective"][-1] < 0.05
    np.testing.assert_array_equal(predict(params, x), y)
    margins = np.asarray(F.multiclass_hinge(jnp.asarray(x) @ params["w"] + params["b"][None, :], jnp.asarray(y)))
    assert np.mean(margins == 0) > 0.9  # most points outside the margin


def test_stronger_regularisation_gives_smaller_weights():
    x, y = separable()
    small_c, _ = train_svm(jax.random.key(0), x, y, SvmSpec(C=0.01, epochs=20, batch_size=30, lr=0.05), 3)
    large_c, _ = train_svm(jax.random.key(0), x, y, SPEC, 3)
    assert np.linalg.norm(small_c["w"]) < 0.5 * np.linalg.norm(large_c["w"])


def test_a_seed_fixes_the_bits_and_another_changes_them():
    x, y = separable()
    spec = SvmSpec(C=1.0, epochs=3, batch_size=30, lr=0.05)
    a, _ = train_svm(jax.random.key(1), x, y, spec, 3)
    b, _ = train_svm(jax.random.key(1), x, y, spec, 3)
    c, _ = train_svm(jax.random.key(2), x, y, spec, 3)
    np.testing.assert_array_equal(a["w"], b["w"])
    assert not np.array_equal(a["w"], c["w"])


@pytest.mark.parametrize("kwargs, name", [({"C": 0.0}, "C"), ({"epochs": 0}, "epochs")])
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SvmSpec(**kwargs)
