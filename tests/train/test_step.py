"""The pure training and evaluation steps."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnjax import functional as F
from cnnjax import nn as cnn
from cnnjax.models.outputs import OutputSpec
from cnnjax.train import config as configlib
from cnnjax.train import create_train_state, eval_step, make_preprocess, make_task, root_key, train_step

from .helpers import TinyNet, tiny_arrays, tiny_dataset

CLASSIFY = make_task("classification", loss="", num_classes=4)


def _setup(*, model=None, lr=0.05, **step_options):
    model = model or TinyNet(batch_norm=True, dropout=0.1)
    dataset = tiny_dataset()
    preprocess = make_preprocess(configlib.default_config().augment, dataset)
    tx = optax.sgd(lr, momentum=0.9)
    state = create_train_state(model, tx, root_key(0), preprocess.input_shape)
    options = dict(
        model=model,
        task=CLASSIFY,
        tx=tx,
        schedule=lambda s: jnp.asarray(lr),
        preprocess=preprocess,
        regularization=lambda p: 0.0,
    )
    options.update(step_options)
    step = jax.jit(functools.partial(train_step, **options))
    images, labels = tiny_arrays(32)
    return state, step, {"image": jnp.asarray(images), "label": jnp.asarray(labels)}, preprocess, model


@pytest.fixture(scope="module")
def setup():
    return _setup()


def test_train_step_is_pure_and_learns(setup):
    state, step, batch, _, _ = setup
    again, metrics_a = step(state, batch)
    again_b, metrics_b = step(state, batch)
    jax.tree.map(np.testing.assert_array_equal, (again, metrics_a), (again_b, metrics_b))
    assert int(again.step) == 1 and bool(metrics_a["finite"])
    assert set(metrics_a) == {"step", "loss", "accuracy", "learning_rate", "finite"}
    losses = []
    for _ in range(30):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0]
    assert not jax.tree.all(jax.tree.map(lambda a, b: np.array_equal(a, b), state.batch_stats, again.batch_stats))


def test_dropout_keys_follow_the_step(setup):
    state, step, batch, _, _ = setup
    _, first = step(state, batch)
    _, other = step(state.replace(step=jnp.asarray(7, jnp.int32)), batch)
    assert float(first["loss"]) != float(other["loss"])  # another dropout mask at another step


def test_nonfinite_steps_are_skipped_and_counted():
    state, step, batch, _, _ = _setup(
        model=TinyNet(), regularization=lambda p: jnp.nan * F.l2_penalty(p), skip_nonfinite=True
    )
    new, metrics = step(state, batch)
    assert not bool(metrics["finite"])
    assert int(new.step) == 1 and int(new.nonfinite_steps) == 1
    jax.tree.map(np.testing.assert_array_equal, (new.params, new.opt_state), (state.params, state.opt_state))


def test_max_norm_projects_kernels_after_the_update():
    state, step, batch, _, _ = _setup(model=TinyNet(), lr=5.0, max_norm=0.5)
    new, _ = step(state, batch)
    kernel = np.asarray(new.params["head"]["kernel"])
    assert np.linalg.norm(kernel, axis=0).max() <= 0.5 + 1e-5


def test_eval_step_ignores_padding(setup):
    state, _, batch, preprocess, model = setup
    evaluate = jax.jit(functools.partial(eval_step, model=model, task=CLASSIFY, preprocess=preprocess))
    mask = jnp.arange(32) < 20
    padded = {"image": batch["image"].at[20:].set(0), "label": batch["label"].at[20:].set(0), "mask": mask}
    head = {k: v[:20] for k, v in batch.items()} | {"mask": jnp.ones(20, bool)}
    full, part = evaluate(state, padded), evaluate(state, head)
    assert float(full["count"]) == 20.0
    for key in ("loss_sum", "correct"):
        assert float(full[key]) == pytest.approx(float(part[key]), rel=1e-6)


class _AuxNet(nn.Module):
    """Returns (logits, aux) in training, like GoogLeNet with aux_logits=True, and declares it."""

    outputs = OutputSpec("classification", (("aux", 0.3),))

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        features = x.reshape(x.shape[0], -1)
        logits = cnn.Dense(4, name="head")(features)
        aux = cnn.Dense(4, name="aux_head")(features)
        return (logits, aux) if train else logits


def test_auxiliary_heads_are_trained_with_weight_0_3_and_not_reported_as_the_loss():
    state, step, batch, preprocess, model = _setup(model=_AuxNet(), lr=0.1)
    new, metrics = step(state, batch)
    images = preprocess.normalize(preprocess.eval(batch["image"]))
    main_logits = model.apply({"params": state.params}, images)
    expected = F.softmax_cross_entropy(main_logits, batch["label"]).mean()
    np.testing.assert_allclose(float(metrics["loss"]), float(expected), rtol=1e-5)
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), new.params["aux_head"], state.params["aux_head"])
    assert min(jax.tree.leaves(moved)) > 0  # the auxiliary head receives gradients


def test_undeclared_auxiliary_outputs_are_an_error():
    class Undeclared(_AuxNet):
        outputs = OutputSpec()

    state, step, batch, _, _ = _setup(model=Undeclared())
    with pytest.raises(ValueError, match=r"expected 1 \+ 0 auxiliary outputs \[\] in training.*got 2 outputs"):
        step(state, batch)


def test_aux_weight_comes_from_the_model():
    """The auxiliary loss enters with the model's declared weight: weight 0 leaves the main loss's gradient alone."""

    class Unweighted(_AuxNet):
        outputs = OutputSpec("classification", (("aux", 0.0),))

    state, step, batch, _, _ = _setup(model=Unweighted(), lr=0.1)
    new, _ = step(state, batch)
    np.testing.assert_array_equal(new.params["aux_head"]["kernel"], state.params["aux_head"]["kernel"])


class _PoolNet(nn.Module):
    """Global average pool -> Dense: blind to where a pixel is, so flips leave its output unchanged."""

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        return cnn.Dense(4, name="head")(x.mean(axis=(1, 2)))


def _evaluate(model, preprocess, batch):
    state = create_train_state(model, optax.sgd(0.1), root_key(0), preprocess.input_shape)
    return jax.jit(functools.partial(eval_step, model=model, task=CLASSIFY, preprocess=preprocess))(state, batch)


def test_eval_views_of_a_position_blind_model_give_the_one_view_figures():
    dataset = tiny_dataset()
    augment = configlib.default_config().augment
    augment.crop_size = 6
    images, labels = tiny_arrays(20)
    batch = {"image": jnp.asarray(images), "label": jnp.asarray(labels), "mask": jnp.ones(20, bool)}
    one = _evaluate(_PoolNet(), make_preprocess(augment, dataset), batch)
    flips = _evaluate(_PoolNet(), make_preprocess(augment, dataset, eval_crops="center_flip"), batch)
    for key in ("loss_sum", "correct", "correct_top5" if "correct_top5" in one else "count"):
        np.testing.assert_allclose(float(flips[key]), float(one[key]), rtol=1e-5)
    # ten crops of a constant image: ten equal views, again the one-view figures
    flat = {
        **batch,
        "image": jnp.broadcast_to(
            batch["image"].mean(axis=(1, 2), keepdims=True).astype(jnp.uint8), batch["image"].shape
        ),
    }
    ten = make_preprocess(augment, dataset, eval_crops="ten", eval_scales=(8, 12))
    assert ten.views(flat["image"]).shape == (20, 20, 6, 6, 1)
    np.testing.assert_allclose(
        float(_evaluate(_PoolNet(), ten, flat)["loss_sum"]),
        float(_evaluate(_PoolNet(), make_preprocess(augment, dataset), flat)["loss_sum"]),
        rtol=1e-4,
    )


def _ten_crops():
    """(batch of 8 tiny images, TinyNet, its ten-crop preprocess of 6 x 6 crops, an initial state)."""
    augment = configlib.default_config().augment
    augment.crop_size = 6
    images, labels = tiny_arrays(8)
    batch = {"image": jnp.asarray(images), "label": jnp.asarray(labels), "mask": jnp.ones(8, bool)}
    model = TinyNet()
    preprocess = make_preprocess(augment, tiny_dataset(), eval_crops="ten")
    state = create_train_state(model, optax.sgd(0.1), root_key(0), preprocess.input_shape)
    return batch, model, preprocess, state


def test_ten_crop_evaluation_averages_the_softmax_of_the_ten_crops():
    batch, model, preprocess, state = _ten_crops()
    sums = _evaluate(model, preprocess, batch)
    crops = jnp.stack([preprocess.normalize(v) for v in preprocess.views(batch["image"])])
    probs = jnp.mean(jnp.stack([jax.nn.softmax(model.apply({"params": state.params}, c)) for c in crops]), axis=0)
    expected = -jnp.log(probs[jnp.arange(8), batch["label"]]).sum()
    np.testing.assert_allclose(float(sums["loss_sum"]), float(expected), rtol=1e-4)
    assert float(sums["correct"]) == float(jnp.sum(jnp.argmax(probs, -1) == batch["label"]))


def test_views_in_passes_give_the_same_sums_in_less_memory():
    batch, model, preprocess, state = _ten_crops()
    compiled = {
        k: jax.jit(functools.partial(eval_step, model=model, task=CLASSIFY, preprocess=preprocess, views_per_pass=k))
        .lower(state, batch)
        .compile()
        for k in (0, 3)
    }
    at_once, in_passes = (compiled[k](state, batch) for k in (0, 3))
    for key in at_once:
        np.testing.assert_allclose(float(in_passes[key]), float(at_once[key]), rtol=1e-5)
    memory = {k: c.memory_analysis().temp_size_in_bytes for k, c in compiled.items()}
    assert memory[3] < memory[0]  # 3 views of 8 images at a time instead of 10
