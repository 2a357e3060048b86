"""config.init_from: parameters saved by `save_params` replace the initial ones they name; what does not fit the
model is refused before training, naming the parameter."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from cnnjax.train import Checkpointer, create_train_state, load_params, save_params, train_and_evaluate

from .helpers import TinyNet, tiny_config, tiny_dataset

KERNEL = np.full((3, 3, 1, 4), 0.25, np.float32)


def test_saved_params_round_trip_and_replace_only_what_they_name(tmp_path):
    save_params(tmp_path / "p.npz", {"conv": {"kernel": KERNEL}})
    named = load_params(tmp_path / "p.npz")
    assert list(named) == ["conv/kernel"]
    root = jax.random.key(0)
    fresh = create_train_state(TinyNet(), optax.sgd(0.1), root, (8, 8, 1))
    state = create_train_state(TinyNet(), optax.sgd(0.1), root, (8, 8, 1), initial_params=named)
    np.testing.assert_array_equal(state.params["conv"]["kernel"], KERNEL)
    np.testing.assert_array_equal(state.params["head"]["kernel"], fresh.params["head"]["kernel"])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"conv": {"kernel": np.zeros((3, 3, 1, 8), np.float32)}}, r"'conv/kernel' has shape \(3, 3, 1, 8\)"),
        ({"conv2": {"kernel": KERNEL}}, r"'conv2/kernel' is not a parameter of the model"),
    ],
)
def test_params_that_do_not_fit_are_refused_naming_them(tmp_path, params, match):
    save_params(tmp_path / "p.npz", params)
    config = tiny_config(init_from=str(tmp_path / "p.npz"), num_epochs=1)
    with pytest.raises(ValueError, match=match):
        train_and_evaluate(config, tmp_path / "run", dataset=tiny_dataset(), model=TinyNet())
    assert not list((tmp_path / "run" / "checkpoints").iterdir())


def test_a_missing_file_is_named_with_the_seed_filled_in(tmp_path):
    config = tiny_config(init_from=str(tmp_path / "encoder_{seed}.npz"), seed=3)
    with pytest.raises(ValueError, match=r"config\.init_from: .*encoder_3\.npz'?: no such file"):
        train_and_evaluate(config, tmp_path / "run", dataset=tiny_dataset(), model=TinyNet())


@pytest.mark.slow
def test_a_run_starts_from_the_file_of_its_seed(tmp_path):
    save_params(tmp_path / "p_1.npz", {"conv": {"kernel": KERNEL}})
    settings = {
        "optimizer.name": "sgd",
        "optimizer.weight_decay": 0.0,
        "optimizer.lr": 1e-12,
        "augment.crop_padding": 0,
    }
    config = tiny_config(init_from=str(tmp_path / "p_{seed}.npz"), seed=1, num_epochs=1, **settings)
    train_and_evaluate(config, tmp_path / "run", dataset=tiny_dataset(), model=TinyNet())
    final = Checkpointer(tmp_path / "run" / "checkpoints", keep=1).read()[0]
    np.testing.assert_allclose(final["params"]["conv"]["kernel"], KERNEL, atol=1e-9)
