"""The computations behind the figures, on synthetic models: occlusion, saliency, confusion, errors, lr steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnjax import models
from cnnjax.viz import analysis, figures

REGION = (slice(8, 12), slice(16, 20))  # rows, cols the synthetic model looks at


def region_logits(x: jax.Array) -> jax.Array:
    """Class 0's logit is 10 * (mean of REGION - 0.5), class 1's is 0: only REGION matters."""
    score = 10.0 * (x[:, REGION[0], REGION[1], :].mean(axis=(1, 2, 3)) - 0.5)
    return jnp.stack([score, jnp.zeros_like(score)], axis=-1)


def test_occlusion_is_low_exactly_where_the_model_looks():
    x = jnp.ones((28, 28, 1))
    result = analysis.occlusion(region_logits, x, size=4, stride=2, fill=0.0)
    assert result.probabilities.shape == (13, 13, 2)
    np.testing.assert_array_equal(result.top, np.arange(0, 25, 2))
    for i, top in enumerate(result.top):
        for j, left in enumerate(result.left):
            rows = max(0, min(top + 4, 12) - max(top, 8))
            cols = max(0, min(left + 4, 20) - max(left, 16))
            expected = jax.nn.sigmoid(10.0 * (1.0 - rows * cols / 16 - 0.5))
            np.testing.assert_allclose(result.probabilities[i, j, 0], expected, rtol=1e-5)
    low = np.argwhere(result.probabilities[..., 0] < 0.4)  # only the patch covering the whole region
    np.testing.assert_array_equal(low, [[4, 8]])
    assert (result.top[4], result.left[8]) == (8, 16)


@pytest.mark.parametrize("size, stride, match", [(0, 1, "size"), (29, 1, "size"), (4, 0, "stride"), (4, 5, "stride")])
def test_occlusion_rejects_bad_patches(size, stride, match):
    with pytest.raises(ValueError, match=match):
        analysis.occlusion(region_logits, jnp.ones((28, 28, 1)), size=size, stride=stride)


@pytest.fixture(scope="module")
def lenet():
    model = models.create("lenet5")
    variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    x = jax.random.normal(jax.random.key(1), (28, 28, 1))
    return (lambda batch: model.apply(variables, batch, train=False)), x


def test_saliency_is_the_gradient_of_the_class_logit(lenet):
    logits_fn, x = lenet
    expected = jax.grad(lambda image: logits_fn(image[None])[0, 3])(x)
    got = analysis.saliency(logits_fn, x, 3)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(got, analysis.saliency(logits_fn, x, 4))


def test_smoothgrad_is_the_mean_gradient_over_noisy_copies(lenet):
    logits_fn, x = lenet
    key = jax.random.key(7)
    sigma = 0.2 * (x.max() - x.min())
    noisy = x[None] + sigma * jax.random.normal(key, (5, *x.shape))
    grad = jax.grad(lambda image: logits_fn(image[None])[0, 2])
    expected = np.mean([grad(n) for n in noisy], axis=0)
    got = analysis.saliency(logits_fn, x, 2, samples=5, noise=0.2, key=key)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    other = analysis.saliency(logits_fn, x, 2, samples=5, noise=0.2, key=jax.random.key(8))
    assert not np.allclose(got, other)
    with pytest.raises(ValueError, match=r"key: expected a jax\.random key"):
        analysis.saliency(logits_fn, x, 2, samples=5)


def test_confusion_matrix_and_most_confident_errors():
    labels = np.array([0, 0, 1, 2, 2, 2])
    probs = np.array([[0.9, 0.1, 0], [0.2, 0.7, 0.1], [0, 1, 0], [0.6, 0, 0.4], [0, 0.1, 0.9], [0.05, 0.9, 0.05]])
    counts = analysis.confusion_matrix(labels, probs.argmax(1), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(analysis.most_confident_errors(probs, labels, 2), [5, 1])
    np.testing.assert_array_equal(analysis.most_confident_errors(probs, labels, 10), [5, 1, 3])


def test_predict_batches_with_one_padded_compile():
    inputs = np.arange(10, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(analysis.predict(lambda x: 2 * x, inputs, batch_size=4), 2 * inputs)


def test_fixed_filter_responses():
    image = np.zeros((8, 8, 1), np.float32)
    image[:, 4:] = 1.0
    responses = analysis.fixed_filter_responses(image)
    assert list(responses) == list(analysis.F.FIXED_FILTERS)
    assert responses["sobel_x"][4, 3] == 4.0 and responses["sobel_x"][4, 1] == 0.0  # the vertical edge
    np.testing.assert_array_equal(responses["sobel_y"][1:-1], 0.0)


def test_lr_steps_finds_step_drops_only():
    step = [{"epoch": e, "learning_rate": 0.1 if e < 3 else 0.01 if e < 6 else 0.001} for e in range(9)]
    assert figures.lr_steps(step) == [3, 6]
    cosine = [{"epoch": e, "learning_rate": float(np.cos(e / 10))} for e in range(9)]
    assert figures.lr_steps(cosine) == []


def test_curves_of_a_run_with_one_record_and_no_evaluation_draw_that_record():
    record = {"epoch": 0.2, "train_loss": 1.5, "train_accuracy": 0.4, "learning_rate": 1e-3}
    figure = figures.curves_figure([("run", [record], ("train_accuracy", "test_accuracy"))], title="t")
    ax_loss, ax_metric, _ = figure.axes
    for ax, value in ((ax_loss, 1.5), (ax_metric, 0.4)):
        (line,) = ax.get_lines()  # the training point only: no empty "test" series
        assert list(line.get_ydata()) == [value] and line.get_marker() == "o"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["run train"]
