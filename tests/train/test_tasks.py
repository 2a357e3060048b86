"""Tasks: targets, losses by name, training metrics and exact evaluation sums, checked by hand and against NumPy;
and one short training of each task through train_and_evaluate."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import functional as F
from cnnjax.train import make_task, tasks, train_and_evaluate

from .helpers import TinyNet, tiny_config, tiny_dataset

LOGITS = jnp.asarray([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.5]])
LABELS = jnp.asarray([0, 2, 1])


def test_classification_losses_by_name_and_metrics_by_hand():
    ce = make_task("classification", loss="", num_classes=3)
    assert ce.loss == "softmax_cross_entropy"
    np.testing.assert_allclose(ce.loss_per_example(LOGITS, LABELS, train=True), F.softmax_cross_entropy(LOGITS, LABELS))
    hinge = make_task("classification", loss="multiclass_hinge", num_classes=3)
    # margins max(0, s_j - s_y + 1) over j != y: [0 + 0, 3 + 0, 2 + 1.5]
    np.testing.assert_allclose(hinge.loss_per_example(LOGITS, LABELS, train=True), [0.0, 3.0, 3.5])
    assert float(ce.train_metric_value(LOGITS, LABELS)) == pytest.approx(1 / 3)
    sums = ce.eval_sums(LOGITS, LABELS, jnp.asarray([True, True, False]))
    assert (float(sums["correct"]), float(sums["count"])) == (1.0, 2.0) and "correct_top5" not in sums
    smoothed = make_task("classification", loss="", num_classes=3, label_smoothing=0.1)
    assert float(smoothed.loss_per_example(LOGITS, LABELS, train=True)[0]) != float(
        smoothed.loss_per_example(LOGITS, LABELS, train=False)[0]
    )  # smoothing in training only


def test_top5_accuracy_over_more_than_five_classes():
    task = make_task("classification", loss="", num_classes=7)
    logits = jnp.asarray([[6.0, 5, 4, 3, 2, 1, 0]] * 3)
    sums = task.eval_sums(logits, jnp.asarray([4, 5, 0]), jnp.ones(3, bool))
    assert (float(sums["correct"]), float(sums["correct_top5"])) == (1.0, 2.0)
    metrics = task.summarize({k: np.asarray(v) for k, v in sums.items()})
    assert list(metrics)[:2] == ["test_loss", "test_accuracy"] and metrics["test_top5_accuracy"] == pytest.approx(2 / 3)


def test_reconstruction_mse_and_psnr_against_numpy():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 4, 4, 1)).astype(np.uint8)
    outputs = rng.random((4, 4, 4, 1)).astype(np.float32)
    task = make_task("reconstruction", loss="l2", num_classes=10)
    targets = task.targets(jnp.asarray(images), jnp.zeros(4, jnp.int32))
    np.testing.assert_allclose(targets, images / 255.0, rtol=1e-6)
    mask = np.array([True, True, True, False])
    sums = task.eval_sums(jnp.asarray(outputs), targets, jnp.asarray(mask))
    metrics = task.summarize({k: np.asarray(v) for k, v in sums.items()})
    mse = ((outputs - images / 255.0) ** 2).reshape(4, -1).mean(axis=1)[mask]
    assert metrics["test_mse"] == pytest.approx(mse.mean(), rel=1e-5)
    assert metrics["test_psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-5)
    assert metrics["test_loss"] == pytest.approx(16 * mse.mean(), rel=1e-5)  # l2: summed over the 16 pixels
    assert float(task.train_metric_value(jnp.asarray(outputs), targets)) == pytest.approx(
        ((outputs - images / 255.0) ** 2).mean(), rel=1e-5
    )


def test_segmentation_targets_and_mean_iou_against_numpy():
    task = make_task("segmentation", loss="", num_classes=3)
    assert (task.num_classes, task.loss) == (4, "pixel_softmax_cross_entropy")
    images = np.zeros((2, 2, 2, 1), np.uint8)
    images[0, 0, 0] = 200
    images[1, 1, :] = tasks.FOREGROUND_THRESHOLD + 1
    targets = np.asarray(task.targets(jnp.asarray(images), jnp.asarray([2, 0])))
    np.testing.assert_array_equal(targets, [[[3, 0], [0, 0]], [[0, 0], [1, 1]]])
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 5, 5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, (3, 5, 5))
    mask = np.array([True, False, True])
    sums = task.eval_sums(jnp.asarray(logits), jnp.asarray(labels), jnp.asarray(mask))
    metrics = task.summarize({k: np.asarray(v) for k, v in sums.items()})
    predicted, target = logits.argmax(-1)[mask], labels[mask]
    ious = [
        ((predicted == c) & (target == c)).sum() / ((predicted == c) | (target == c)).sum()
        for c in range(4)
        if ((predicted == c) | (target == c)).any()
    ]
    assert metrics["test_mean_iou"] == pytest.approx(np.mean(ious))
    assert metrics["test_pixel_accuracy"] == pytest.approx((predicted == target).mean())
    np.testing.assert_allclose(
        task.loss_per_example(jnp.asarray(logits), jnp.asarray(labels), train=False),
        F.softmax_cross_entropy(jnp.asarray(logits.reshape(-1, 4)), jnp.asarray(labels.reshape(-1)))
        .reshape(3, -1)
        .mean(-1),
        rtol=1e-6,
    )


def test_mean_iou_leaves_out_absent_classes():
    confusion = np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]])
    assert tasks.mean_iou(confusion) == pytest.approx((2 / 3 + 3 / 4) / 2)


@pytest.mark.parametrize(
    "task, loss, smoothing, words",
    [
        ("classification", "l2", 0.0, ["config.loss", "classification", "'l2'"]),
        ("reconstruction", "multiclass_hinge", 0.0, ["reconstruction", "['l2']"]),
        ("segmentation", "softmax_cross_entropy", 0.0, ["segmentation", "['pixel_softmax_cross_entropy']"]),
        ("classification", "multiclass_hinge", 0.1, ["config.label_smoothing", "--config.label_smoothing=0"]),
        ("classification", "svm", 0.0, ["config.loss", "'multiclass_hinge'", "'svm'"]),
    ],
)
def test_a_loss_that_does_not_fit_the_task_is_refused(task, loss, smoothing, words):
    with pytest.raises(ValueError) as info:
        tasks.check_loss(task, loss, smoothing)
    for word in words:
        assert word in str(info.value)


TINY_RUNS = {  # task -> config overrides, model (None: the registered one with these options), last-line metric
    "hinge": ({"loss": "multiclass_hinge", "label_smoothing": 0.0}, TinyNet(), "test_accuracy"),
    "reconstruction": (
        {
            "model": "autoencoder",
            "model_options.features": (4, 8),
            "model_options.latent_dim": 8,
            "label_smoothing": 0.0,
            "loss": "l2",
            "optimizer.weight_decay": 0.0,
            "optimizer.name": "adam",
        },
        None,
        "test_mse",
    ),
    "segmentation": (
        {"model": "unet", "model_options.features": (4, 8), "pad_to": 10, "label_smoothing": 0.0},
        None,
        "test_mean_iou",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_each_task_trains_through_train_and_evaluate(name, tmp_path, capsys):
    overrides, model, metric = TINY_RUNS[name]
    config = tiny_config(num_epochs=1, **overrides)
    final = train_and_evaluate(config, tmp_path, dataset=tiny_dataset(), model=model)
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.startswith(f"{metric}: ") and float(last.split()[1]) == pytest.approx(final[metric], abs=1e-4)
    assert np.isfinite(final["train_loss"]) and final["step"] == 8
    if name == "segmentation":
        assert 0.0 <= final["test_mean_iou"] <= 1.0 and 0.0 <= final["test_pixel_accuracy"] <= 1.0
    if name == "reconstruction":
        assert final["test_psnr"] == pytest.approx(-10 * np.log10(final["test_mse"]), rel=0.2)


def test_classification_combines_views_by_their_mean_softmax():
    from cnnjax.train.tasks import make_task

    task = make_task("classification", loss="", num_classes=10)
    logits = jax.random.normal(jax.random.key(0), (3, 4, 10))
    one = task.combine_views(logits[:1])
    np.testing.assert_array_equal(one, logits[0])  # one view: untouched
    combined = task.combine_views(logits)
    mean_probs = jax.nn.softmax(logits, -1).mean(0)
    np.testing.assert_allclose(jnp.exp(combined), mean_probs, rtol=1e-5)
    same = task.combine_views(jnp.stack([logits[0]] * 5))  # identical views: the same probabilities as one
    np.testing.assert_allclose(jax.nn.softmax(same, -1), jax.nn.softmax(logits[0], -1), rtol=1e-5)
    hinge = make_task("classification", loss="multiclass_hinge", num_classes=10, label_smoothing=0.0)
    np.testing.assert_allclose(hinge.combine_views(logits), logits.mean(0), rtol=1e-6)
    with pytest.raises(ValueError, match="reconstruction: expected one evaluation view, got 3"):
        make_task("reconstruction", loss="", num_classes=10).combine_views(logits)
