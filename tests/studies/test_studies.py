"""The studies' shared code (tables, comparisons, README blocks), the shift of test images, and that each committed
README holds the tables its committed results.json gives."""

from __future__ import annotations

import importlib
import shutil

import numpy as np
import pytest

from experiments.studies import common
from experiments.studies.__main__ import STUDIES
from experiments.studies.xor import study as xor


def test_shifted_moves_the_image_and_zero_fills_the_border():
    images = np.arange(1, 17, dtype=np.uint8).reshape(1, 4, 4, 1)
    right = common.shifted(images, 0, 1)
    np.testing.assert_array_equal(right[0, :, 1:, 0], images[0, :, :3, 0])
    assert not right[0, :, 0, 0].any()
    up = common.shifted(images, -2, 0)
    np.testing.assert_array_equal(up[0, :2, :, 0], images[0, 2:, :, 0])
    assert not up[0, 2:, :, 0].any()
    np.testing.assert_array_equal(common.shifted(images, 0, 0), images)


def test_replace_block_rewrites_only_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("head\n<!-- results -->\nold\n<!-- /results -->\ntail\n")
    common.replace_block(readme, "results", "new table")
    assert readme.read_text() == "head\n<!-- results -->\nnew table\n<!-- /results -->\ntail\n"
    with pytest.raises(ValueError, match="expected the markers <!-- other -->"):
        common.replace_block(readme, "other", "x")


def test_tables_state_mean_std_interval_and_range():
    table = common.summary_table("metric", {"arm": [0.5, 0.6, 0.7]}, digits=2)
    assert "| arm | 0.60 ± 0.10 | [" in table and "| 0.50 - 0.70 | 3 |" in table
    c = common.comparison("a", "b", [0.9, 0.91, 0.92], [0.8, 0.81, 0.82], "test_accuracy")
    assert c["arm_a"] == "a" and c["difference"] == pytest.approx(0.1) and c["p_a_better"] == 1.0
    assert "| a vs b (test_accuracy) | +0.1000 |" in common.comparison_table([c])


def test_xor_needs_a_hidden_layer():
    _, accuracy_linear, _ = xor.train(0, seed=0)
    _, accuracy_hidden, _ = xor.train(8, seed=0)
    assert accuracy_linear <= 0.75 and accuracy_hidden == 1.0


@pytest.mark.parametrize("name", STUDIES)
def test_the_committed_readme_holds_the_tables_of_the_committed_results(name, tmp_path):
    study_dir = common.STUDIES_DIR / name
    shutil.copy(study_dir / "README.md", tmp_path / "README.md")
    module = importlib.import_module(f"experiments.studies.{name}.study")
    module.write(common.read_results(study_dir), tmp_path)
    assert (tmp_path / "README.md").read_text() == (study_dir / "README.md").read_text()


def test_calibration_error_is_zero_for_calibrated_and_the_gap_for_overconfident_predictions():
    from experiments.studies.loss import study as loss

    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 1])
    calibrated = np.tile([[0.75, 0.25]], (8, 1))  # 6 of these 8 have label 0: accuracy 0.75 at confidence 0.75
    calibrated_labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    assert loss.calibration(calibrated, calibrated_labels)["ece"] == pytest.approx(0.0)
    overconfident = np.tile([[0.99, 0.01]], (10, 1))  # accuracy 0.5 at confidence 0.99
    assert loss.calibration(overconfident, labels)["ece"] == pytest.approx(0.49)


def test_run_writes_results_then_reports_them_reproduced_or_keeps_a_file_that_differs(tmp_path, monkeypatch, capsys):
    from experiments.studies import __main__ as studies_cli

    (tmp_path / "xor").mkdir()
    shutil.copy(common.STUDIES_DIR / "xor" / "README.md", tmp_path / "xor" / "README.md")
    monkeypatch.setattr(common, "STUDIES_DIR", tmp_path)
    assert studies_cli.run("xor", "0-1", overwrite=False) == 0
    assert (tmp_path / "xor" / "results.json").is_file() and (tmp_path / "xor" / "boundary.png").is_file()
    assert studies_cli.run("xor", "0-1", overwrite=False) == 0
    assert "xor: reproduced: the numbers equal" in capsys.readouterr().out
    path = tmp_path / "xor" / "results.json"
    path.write_text(path.read_text().replace('"lr": 0.05', '"lr": 0.5'))
    assert studies_cli.run("xor", "0-1", overwrite=False) == 1
    assert "lr: 0.5 in the file, 0.05 recomputed" in capsys.readouterr().err


def test_the_pretrained_encoders_are_the_classifier_blocks_under_its_names():
    import jax

    from cnnjax import models
    from cnnjax.train.state import check_named_params
    from experiments.studies.pretraining import config, pretrain

    x = jax.random.normal(jax.random.key(0), (2, 28, 28, 1))
    autoencoder = pretrain.LayerAutoencoder(config.CHANNELS[0])
    encoder = autoencoder.init(jax.random.key(1), x)["params"]
    assert autoencoder.apply({"params": encoder}, x).shape == x.shape
    classifier = models.create("convnet", channels=config.CHANNELS, hidden=(64,))
    params = classifier.init(jax.random.key(2), x)["params"]
    check_named_params(params, {f"conv1/{k}": np.asarray(v) for k, v in encoder["encoder"].items()})
    _, features = classifier.apply({"params": params}, x, capture_intermediates=True, mutable=["intermediates"])
    pooled = features["intermediates"]["pool1"]["__call__"][0]
    np.testing.assert_allclose(pretrain.encode(params["conv1"], x), pooled, atol=1e-6)


def test_the_bank_resembles_itself_and_random_filters_less():
    from cnnjax import functional as F
    from experiments.studies.filters import study as filters

    similarity = filters.bank_similarity(F.filter_bank(1))
    constant = list(F.FIXED_FILTERS).index("box_blur")  # centred, the box blur is zero
    assert similarity[constant] == 0.0
    assert all(s == pytest.approx(1.0) for i, s in enumerate(similarity) if i != constant)
    assert 0.3 < filters.random_similarity() < 0.9


def test_the_largest_training_rate_needs_every_seed_above_the_threshold():
    from experiments.studies.normalisation import study as normalisation

    accuracies = {0.01: [0.7, 0.7], 0.03: [0.8, 0.8], 0.1: [0.85, 0.4], 0.3: [0.6, 0.6], 1.0: [0.1, 0.1]}
    arms = {
        normalisation.arm(norm, lr): {"test_accuracy": dict(enumerate(values))}
        for norm in normalisation.NORMS
        for lr, values in accuracies.items()
    }
    limits = normalisation.tolerance({"trains": 0.5, "arms": arms})
    assert limits["bn"] == {"largest_training_lr": 0.3, "best_lr": 0.03}
