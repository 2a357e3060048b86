"""`cnnjax viz`: every kind writes a non-blank PNG of the figure's size from a freshly trained workdir, and its
Figure carries the expected titles and tick labels; the errors a user can cause."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from cnnjax import cli as cnnjax_cli
from cnnjax.functional import FIXED_FILTERS
from cnnjax.viz import analysis, cli, figures, load_run

pytestmark = pytest.mark.slow  # the tests draw from a run trained for them

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_viz_parser(parser.add_subparsers())
    return parser.parse_args(["viz", *argv])


@pytest.fixture(scope="module")
def run(workdir):
    return load_run(workdir)


def draw(run, kind: str, *options: str, tmp_path):
    """The kind's single figure and the texts of all its axes (subfigures' too), after checking its PNG: the
    figure's size, and not blank."""
    [(stem, figure, _caption)] = cli.KINDS[kind](run, parse(kind, "--workdir", str(run.workdir), *options))
    path = figures.save(figure, tmp_path / f"{stem}.png")
    pixels = np.asarray(Image.open(path).convert("L"), np.float32) / 255.0
    width, height = figure.get_size_inches() * figures.DPI
    assert pixels.shape == (round(height), round(width))
    assert pixels.std() > 0.1, "blank figure"
    texts = {
        "suptitle": figure.get_suptitle(),
        "titles": [ax.get_title() for ax in figure.axes],
        "xlabels": [ax.get_xlabel() for ax in figure.axes],
        "ylabels": [ax.get_ylabel() for ax in figure.axes],
        "xticks": [[t.get_text() for t in ax.get_xticklabels()] for ax in figure.axes],
        "yticks": [[t.get_text() for t in ax.get_yticklabels()] for ax in figure.axes],
    }
    return figure, texts


def names_model_and_run(title: str, layer: str | None = None) -> None:
    assert title.startswith("lenet5 · run lenet5_runlocal · layer"), title
    if layer is not None:
        assert f"layer {layer}" in title, title


def test_filters(run, tmp_path):
    _, texts = draw(run, "filters", tmp_path=tmp_path)
    names_model_and_run(texts["suptitle"], "conv1 (Conv)")
    assert "5x5x1 (all 6 filters)" in texts["suptitle"] and "scaled to its own min" in texts["suptitle"]
    assert texts["titles"] == [f"filter {k}" for k in range(6)]


def test_filters_of_a_deeper_layer_have_a_row_per_input_channel(run, tmp_path):
    figure, texts = draw(run, "filters", "--layer", "conv2", tmp_path=tmp_path)
    names_model_and_run(texts["suptitle"], "conv2 (Conv)")
    assert "5x5x6 (all 16 filters)" in texts["suptitle"]
    assert texts["xticks"] == [[str(k) for k in range(16)]] and texts["yticks"] == [[str(c) for c in range(6)]]
    assert texts["xlabels"] == ["filter (output channel)"] and texts["ylabels"] == ["input channel"]
    tiles = figure.axes[0].images[0].get_array()
    assert tiles.shape == (6 * 6 - 1, 16 * 6 - 1)
    kernel = np.asarray(run.variables["params"]["conv2"]["kernel"])
    w = kernel[:, :, 2, 5]  # input channel 2 of filter 5, scaled by that filter's min..max
    np.testing.assert_allclose(tiles[12:17, 30:35], (w - kernel[..., 5].min()) / np.ptp(kernel[..., 5]), rtol=1e-5)


@pytest.mark.parametrize("layer, shape", [("conv1", "28x28 (all 6"), ("pool2", "5x5 (all 16"), ("conv2", "10x10")])
def test_featuremaps(run, tmp_path, layer, shape):
    _, texts = draw(run, "featuremaps", "--layer", layer, "--image", "3", tmp_path=tmp_path)
    names_model_and_run(texts["suptitle"], layer)
    label = FASHION[run.test_set.labels[3]]
    assert f"test image #3 ({label})" in texts["suptitle"] and shape in texts["suptitle"]
    assert "input" in texts["titles"] and "channel 0" in texts["titles"]
    assert "activation" in texts["ylabels"]  # the colour bar
    assert "y (pixel)" in texts["ylabels"]


def test_featuremaps_cap(run, tmp_path):
    _, texts = draw(run, "featuremaps", "--layer", "conv2", "--max-maps", "4", tmp_path=tmp_path)
    assert "the first 4 of 16 channels" in texts["suptitle"]
    assert [t for t in texts["titles"] if t.startswith("channel")] == [f"channel {k}" for k in range(4)]


def test_occlusion(workdir, tmp_path):
    run = load_run(workdir)  # fresh: the checkpoint is first read by the occlusion itself
    _figure, texts = draw(run, "occlusion", "--image", "1", "--patch-size", "8", "--stride", "4", tmp_path=tmp_path)
    names_model_and_run(texts["suptitle"], "fc3")
    true = FASHION[run.test_set.labels[1]]
    assert f"true class: {true}" in texts["titles"][0] and "patch 8x8, stride 4" in texts["titles"][0]
    assert f"P({true}) with the patch there" in texts["titles"]
    assert list(FASHION) in texts["yticks"]  # the most-probable-class colour bar names the classes
    assert "patch centre x (pixel)" in texts["xlabels"]


def test_occlusion_of_another_class(run, tmp_path):
    _, texts = draw(run, "occlusion", "--class", "Bag", tmp_path=tmp_path)
    assert "P(Bag) with the patch there" in texts["titles"]


def test_saliency_with_smoothgrad(workdir, tmp_path):
    run = load_run(workdir)
    _figure, texts = draw(run, "saliency", "--smoothgrad", "4", "--seed", "1", tmp_path=tmp_path)
    names_model_and_run(texts["suptitle"], "fc3")
    true = FASHION[run.test_set.labels[0]]
    assert f"saliency of class {true!r}" in texts["suptitle"]
    assert texts["titles"][:3] == ["input", "gradient", "SmoothGrad (n=4, noise 0.15, seed 1)"]
    assert f"|d logit({true}) / d input|" in texts["ylabels"]


def test_kernels(run, tmp_path):
    _, texts = draw(run, "kernels", tmp_path=tmp_path)
    assert "lenet5 · run lenet5_runlocal · layer: none" in texts["suptitle"]
    panel_titles = [t for t in texts["titles"] if t]
    assert panel_titles == ["input (grey levels)", *FIXED_FILTERS]


def test_curves_of_two_runs(workdir, tmp_path):
    other = tmp_path / "second"
    other.mkdir()
    for name in ("config.json", "metrics.jsonl"):  # curves need no checkpoint
        shutil.copy(workdir / name, other / name)
    runs = [load_run(workdir), load_run(other)]
    [(_, figure, _)] = cli.curves(runs)
    assert "runs lenet5_runlocal, second" in figure.get_suptitle()
    loss, _accuracy, _lr = figure.axes
    assert [ax.get_xlabel() for ax in figure.axes] == ["epoch"] * 3
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss", "accuracy", "learning rate"]
    legend = [t.get_text() for t in loss.get_legend().get_texts()]
    assert legend == ["lenet5_runlocal train", "lenet5_runlocal test", "second train", "second test"]
    records = runs[0].records
    np.testing.assert_allclose(loss.lines[0].get_ydata(), [r["train_loss"] for r in records if "train_loss" in r])


def test_curves_name_runs_by_the_shortest_path_that_tells_them_apart(workdir, tmp_path):
    seeds = [tmp_path / "alexnet" / "seed0", tmp_path / "vgg" / "seed0"]
    for other in seeds:
        other.mkdir(parents=True)
        for name in ("config.json", "metrics.jsonl"):
            shutil.copy(workdir / name, other / name)
    [(_, figure, _)] = cli.curves([load_run(other) for other in seeds])
    assert "runs alexnet/seed0, vgg/seed0" in figure.get_suptitle()
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == ["alexnet/seed0 train", "alexnet/seed0 test", "vgg/seed0 train", "vgg/seed0 test"]
    assert cli.distinct_names([tmp_path / "a" / "x" / "s", tmp_path / "b" / "x" / "s", tmp_path / "t"]) == [
        "a/x/s",
        "b/x/s",
        "t",
    ]
    assert cli.distinct_names([tmp_path / "one"]) == ["one"]


def test_curves_png(run, tmp_path):
    _, texts = draw(run, "curves", tmp_path=tmp_path)
    names_model_and_run(texts["suptitle"])


def test_confusion(run, tmp_path):
    figure, texts = draw(run, "confusion", tmp_path=tmp_path)
    names_model_and_run(texts["suptitle"], "fc3")
    assert f"{len(run.test_set)} images" in texts["suptitle"]
    counts_ax, normalised_ax = figure.axes[:2]
    assert texts["xticks"][0] == list(FASHION) and texts["yticks"][1] == list(FASHION)
    assert texts["xlabels"][:2] == ["predicted class"] * 2 and texts["ylabels"][:2] == ["true class"] * 2
    counts = counts_ax.images[0].get_array()
    assert counts.sum() == len(run.test_set)
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(run.test_set.labels, minlength=10))
    np.testing.assert_allclose(normalised_ax.images[0].get_array().sum(axis=1), 1.0)
    accuracy = float(re.search(r"accuracy (\d\.\d+)", texts["suptitle"]).group(1))
    assert accuracy == pytest.approx(float(np.trace(counts) / counts.sum()), abs=1e-4)


def test_errors(run, tmp_path):
    _, texts = draw(run, "errors", "--count", "6", tmp_path=tmp_path)
    names_model_and_run(texts["suptitle"], "fc3")
    probs, labels = run.test_probabilities, run.test_set.labels
    confidences = []
    for title in texts["titles"]:
        index, true, predicted, p = re.fullmatch(r"#(\d+) true: (.+)\npred: (.+) p=(\d\.\d\d)", title).groups()
        assert FASHION[labels[int(index)]] == true and FASHION[probs[int(index)].argmax()] == predicted != true
        confidences.append(float(p))
    assert len(confidences) == 6 and confidences == sorted(confidences, reverse=True)


def test_all_writes_every_kind_and_an_index(workdir, tmp_path):
    assert cnnjax_cli.main(["viz", "all", "--workdir", str(workdir), "--out", str(tmp_path / "figs")]) == 0
    page = (tmp_path / "figs" / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    for stem in (
        "filters-conv1",
        "filters-conv2",
        "featuremaps-conv1",
        "featuremaps-pool2",
        "occlusion",
        "saliency",
        "kernels",
        "curves",
        "confusion",
        "errors",
    ):
        assert f"{stem}.png" in images
    assert all((tmp_path / "figs" / name).stat().st_size > 1000 for name in images)


def test_command_line_writes_the_default_file(workdir, capsys):
    assert cnnjax_cli.main(["viz", "kernels", "--workdir", str(workdir)]) == 0
    assert (workdir / "viz" / "kernels.png").is_file()
    assert capsys.readouterr().out.strip() == str(workdir / "viz" / "kernels.png")


# ------------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            ["featuremaps", "--layer", "conv9"],
            r"layer: expected a layer with spatial maps .*\['conv1', 'pool1', "
            r"'conv2', 'pool2'\]; got unknown 'conv9'",
        ),
        (
            ["featuremaps", "--layer", "fc1"],
            r"layer: expected a layer with spatial maps .*got 'fc1', a Dense with "
            r"output \(1, 120\)",
        ),
        (
            ["filters", "--layer", "pool1"],
            r"layer: expected a layer with a 2-D conv kernel, one of \['conv1', "
            r"'conv2'\]; got 'pool1'",
        ),
        (["occlusion", "--image", "2000"], r"image: expected a test-set index in \[0, 2000\), got 2000"),
        (["featuremaps", "--image", "-1"], r"image: expected a test-set index in \[0, 2000\), got -1"),
        (["saliency", "--class", "Hat"], r"class: expected one of \['T-shirt/top', .*'Ankle boot'\].*got 'Hat'"),
        (
            ["occlusion", "--patch-size", "40"],
            r"--patch-size: expected a patch side in \[1, 28\] pixels \(the model's "
            r"input is 28x28\), got 40",
        ),
        (["occlusion", "--stride", "40"], r"--stride: expected at most the patch size 7 .*, got 40"),
        (["occlusion", "--patch-size", "8", "--stride", "9"], r"--stride: expected at most the patch size 8 .*got 9"),
    ],
)
def test_user_errors(run, argv, match):
    with pytest.raises(ValueError, match=match):
        cli.KINDS[argv[0]](run, parse(*argv, "--workdir", str(run.workdir)))


@pytest.mark.parametrize(
    "argv, match",
    [
        (["confusion", "--class", "Shirt"], r"--class: expected only with occlusion / saliency, got it with confusion"),
        (["curves", "--layer", "conv1"], r"--layer: expected only with filters / featuremaps, got it with curves"),
        (["filters", "--image", "3"], r"--image: expected only with featuremaps / occlusion / saliency / kernels"),
        (["occlusion", "--smoothgrad", "8"], r"--smoothgrad: expected only with saliency, got it with occlusion"),
    ],
)
def test_an_option_the_kind_does_not_read_is_an_error(workdir, argv, match):
    with pytest.raises(ValueError, match=match):
        cli.check_options(parse(*argv, "--workdir", str(workdir)))
    cli.check_options(parse("all", *argv[1:], "--workdir", str(workdir)))  # 'all' reads every option


@pytest.mark.parametrize(
    "argv, match",
    [
        (["occlusion", "--patch-size", "0"], r"--patch-size: expected a positive number of pixels, got 0"),
        (["occlusion", "--stride", "0"], r"--stride: expected a positive number of pixels, got 0"),
        (["featuremaps", "--max-maps", "0"], r"--max-maps: expected a positive number of channels, got 0"),
        (["featuremaps", "--max-maps", "-1"], r"--max-maps: expected a positive number of channels, got -1"),
        (["errors", "--count", "0"], r"--count: expected a positive number of images, got 0"),
        (["saliency", "--smoothgrad", "-1"], r"--smoothgrad: expected 0 \(off\) or a positive number of noisy copies"),
        (["saliency", "--noise", "0.3"], r"--noise: expected only with --smoothgrad N .* got it without"),
        (["saliency", "--seed", "3"], r"--seed: expected only with --smoothgrad N .* got it without"),
        (["all", "--noise", "0.3"], r"--noise: expected only with --smoothgrad N"),
        (
            ["kernels", "--overwrite"],
            r"--overwrite: expected only with --out \(the default DIR/viz/ is always "
            r"rewritten\), got it without",
        ),
        (["saliency", "--smoothgrad", "4", "--noise", "-1"], r"--noise: expected a finite std > 0, .* got -1.0"),
        (["saliency", "--smoothgrad", "4", "--noise", "nan"], r"--noise: expected a finite std > 0, .* got nan"),
        (["saliency", "--smoothgrad", "4", "--noise", "0"], r"--noise: expected a finite std > 0, .* got 0.0"),
        (["saliency", "--smoothgrad", "4", "--seed", "-1"], r"--seed: expected a seed in \[0, 2\*\*31\), got -1"),
        (["saliency", "--smoothgrad", "4", "--seed", str(2**31)], r"--seed: expected a seed in \[0, 2\*\*31\)"),
    ],
)
def test_option_values_without_effect_or_out_of_range_are_errors(workdir, argv, match):
    with pytest.raises(ValueError, match=match):
        cli.check_options(parse(*argv, "--workdir", str(workdir)))


def test_smoothgrad_library_refuses_a_noise_that_is_not_a_positive_std():
    for noise in (-0.1, 0.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"noise: expected a finite std > 0"):
            analysis.saliency(
                lambda x: x.reshape(1, -1),
                np.zeros((2, 2, 1), np.float32),
                0,
                samples=2,
                noise=noise,
                key=jax.random.key(0),
            )


def test_featuremaps_figure_refuses_no_maps():
    with pytest.raises(ValueError, match=r"max_maps: expected a positive number of channels to show, got 0"):
        figures.featuremaps_figure(np.zeros((4, 4, 1)), np.zeros((2, 2, 3)), title="t", max_maps=0)


@pytest.mark.parametrize(
    "suffix, magic", [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8\xff"), (".pdf", b"%PDF"), (".svg", b"<?xml")]
)
def test_a_figure_is_written_in_the_format_of_its_suffix(tmp_path, suffix, magic):
    figure = figures.new_figure(2, 2)
    figure.subplots().plot([0, 1])
    path = figures.save(figure, tmp_path / f"figure{suffix}")
    assert path.read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["figure", "figure.txt", "figure.png.bak"])
def test_a_suffix_that_names_no_format_is_refused(tmp_path, name):
    with pytest.raises(
        ValueError,
        match=rf"path: expected a file name ending in one of .*\.png.*, got "
        rf"'{tmp_path / name}'; e.g. '{tmp_path / 'figure'}",
    ):
        figures.save(figures.new_figure(2, 2), tmp_path / name)
    assert not (tmp_path / name).exists()


def out_error(workdir, kind, out, *options):
    """check_out's message for `--out out`, or None when it accepts it."""
    try:
        cli.check_out(parse(kind, "--workdir", str(workdir), "--out", str(out), *options))
    except ValueError as e:
        return str(e)
    return None


def test_out_paths_that_cannot_be_written_or_would_replace_files(workdir, tmp_path):
    (tmp_path / "taken.png").write_bytes(b"committed")
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "index.html").write_text("committed")
    assert out_error(workdir, "kernels", tmp_path / "figs") == (
        f"--out: expected a file name, got '{tmp_path / 'figs'}', a folder; name a file in it, e.g. "
        f"'{tmp_path / 'figs' / 'kernels.png'}'"
    )
    assert out_error(workdir, "kernels", tmp_path / "taken.png" / "k.png") == (
        f"--out: expected a path in a folder, got '{tmp_path / 'taken.png' / 'k.png'}', but "
        f"'{tmp_path / 'taken.png'}' is a file"
    )
    assert out_error(workdir, "kernels", tmp_path / "k").startswith("--out: expected a file name ending in one of")
    assert out_error(workdir, "kernels", tmp_path / "taken.png") == (
        f"--out: '{tmp_path / 'taken.png'}' exists; add --overwrite to replace it, or name another file"
    )
    assert out_error(workdir, "kernels", tmp_path / "taken.png", "--overwrite") is None
    assert out_error(workdir, "all", tmp_path / "figs") == (
        f"--out: '{tmp_path / 'figs'}' already holds 1 files (index.html); add --overwrite to replace those of "
        "the same names, or name a new folder"
    )
    assert out_error(workdir, "all", tmp_path / "figs", "--overwrite") is None
    assert out_error(workdir, "all", tmp_path / "taken.png").startswith("--out: all writes a folder, got")
    assert out_error(workdir, "all", tmp_path / "new" / "figs") is None
    assert out_error(workdir, "all", tmp_path / "all.png") == (
        f"--out: all writes a folder (its figures and index.html), got '{tmp_path / 'all.png'}', the name of an "
        f"image file; name a folder, e.g. '{tmp_path / 'all'}'"
    )
    assert (tmp_path / "taken.png").read_bytes() == b"committed"


def test_an_existing_out_is_kept_and_the_runs_own_folder_rewritten(workdir, tmp_path, capsys):
    out = tmp_path / "kernels.jpg"
    out.write_bytes(b"committed")
    assert cnnjax_cli.main(["viz", "kernels", "--workdir", str(workdir), "--out", str(out)]) == 2
    assert "add --overwrite to replace it" in capsys.readouterr().err and out.read_bytes() == b"committed"
    assert cnnjax_cli.main(["viz", "kernels", "--workdir", str(workdir), "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes().startswith(b"\xff\xd8\xff")  # a JPEG, as its suffix says
    for _ in range(2):
        assert cnnjax_cli.main(["viz", "kernels", "--workdir", str(workdir)]) == 0


def test_an_out_that_cannot_be_created_is_one_line(workdir, capsys):
    out = "/proc/cnnjax-viz/kernels.png"  # /proc takes no new files, not even root's
    assert cnnjax_cli.main(["viz", "kernels", "--workdir", str(workdir), "--out", out]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"cnnjax viz: error: cannot write '{out}': ") and line.endswith(
        "; choose a path in a writable folder (--out)"
    )


def test_each_workdir_once(workdir, capsys):
    for again in (str(workdir), f"{workdir}/", f"{workdir}/../{workdir.name}"):
        assert cnnjax_cli.main(["viz", "curves", "--workdir", str(workdir), "--workdir", again]) == 2
        message = capsys.readouterr().err
        assert f"cnnjax viz: error: --workdir: expected each run once, got '{Path(again)}' twice" in message


def test_command_line_error_message(workdir, capsys):
    assert cnnjax_cli.main(["viz", "featuremaps", "--workdir", str(workdir), "--layer", "fc1"]) == 2
    assert capsys.readouterr().err.startswith("cnnjax viz: error: layer: expected a layer with spatial maps")


def test_workdir_without_checkpoint(workdir, tmp_path):
    shutil.copy(workdir / "config.json", tmp_path / "config.json")
    with pytest.raises(ValueError, match=r"workdir: expected a run with a saved checkpoint, but .* holds none"):
        cli.KINDS["filters"](load_run(tmp_path), parse("filters", "--workdir", str(tmp_path)))
    assert not (tmp_path / "checkpoints").exists()  # reading does not create it


def test_a_damaged_metrics_file_stops_curves_only(workdir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(workdir, copy)
    with (copy / "metrics.jsonl").open("a") as file:
        file.write('{"step": "x"}\n')
    run = load_run(copy)
    with pytest.raises(ValueError, match=r"metrics.jsonl:\d+: expected a record of training .* rewrites the file"):
        cli.curves([run])
    cli.KINDS["filters"](run, parse("filters", "--workdir", str(copy)))


def test_not_a_workdir(tmp_path):
    with pytest.raises(ValueError, match=r"workdir: expected a training workdir with a config.json, got"):
        load_run(tmp_path)


def test_a_model_without_classes(autoencoder_workdir, tmp_path):
    run = load_run(autoencoder_workdir)
    assert not run.classifier and run.metric_keys == ("train_mse", "test_mse")
    for kind in ("occlusion", "saliency", "confusion", "errors"):
        with pytest.raises(
            ValueError,
            match=rf"{kind}: expected a classifier .* got config.model 'autoencoder' "
            r".*, a reconstruction model",
        ):
            cli.KINDS[kind](run, parse(kind, "--workdir", str(autoencoder_workdir)))
    assert cnnjax_cli.main(["viz", "all", "--workdir", str(autoencoder_workdir), "--out", str(tmp_path)]) == 0
    images = re.findall(r'<img src="([^"]+)"', (tmp_path / "index.html").read_text())
    assert {name.removesuffix(".png").split("-")[0] for name in images} == {
        "filters",
        "featuremaps",
        "kernels",
        "curves",
    }
    [(_, figure, _)] = cli.curves([run])
    metric = figure.axes[1]
    assert metric.get_ylabel() == "mse"
    np.testing.assert_allclose(metric.lines[1].get_ydata(), [r["test_mse"] for r in run.records if "test_mse" in r])


def test_one_workdir_unless_curves(workdir, capsys):
    argv = ["viz", "confusion", "--workdir", str(workdir), "--workdir", str(workdir)]
    assert cnnjax_cli.main(argv) == 2
    assert "--workdir: confusion reads one workdir (curves compares several), got 2" in capsys.readouterr().err


def test_viz_is_not_imported_by_the_library():
    code = (
        "import sys, cnnjax, cnnjax.functional, cnnjax.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('cnnjax.viz', 'matplotlib'))))"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
