"""The 2010/2011 row: hand-designed descriptors (`hog`) + a linear multiclass SVM (`svm`), tuned on a validation split.

Validation: the last `VALIDATION_SIZE` (10,000) images of the Fashion-MNIST training file, always the same ones; the
SVM is fitted on the first 50,000 for every setting of `GRID`, then for finer values of C around the best (`tune`),
with seed 0, and the setting of the lowest validation error is the row's. The row then fits on all 60,000 training
images and is evaluated once on the test set. Feature standardisation (mean 0, std 1 per dimension) takes its
statistics from the images the SVM is fitted on, never from the validation or test images.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from cnnjax.data import load_dataset
from experiments.progression.hog import HogSpec, hog_features
from experiments.progression.svm import Params, SvmSpec, predict, train_svm

VALIDATION_SIZE = 10_000
NUM_CLASSES = 10

# The tuning grid: descriptor settings x C (seed 0, the 50,000 / 10,000 split, `SvmSpec()`'s 20 epochs), run by
# `tune --row hog_svm`. It was narrowed from a first exploration on the same split (seed 0, 10 epochs, validation
# accuracy): cells 4 unsigned 9 bins 0.899; 12 bins 0.905; cells (4, 7) 0.903; square root 0.898; hard cells 0.893;
# signed 18 bins 0.911 (12: 0.911, 24: 0.911); cells 3 signed 18 0.916 (plain L2 blocks 0.915), signed 12 0.917;
# cells 2 signed 9 0.916; cells (3, 4, 7) unsigned 12 + square root 0.911; C = 1e-4 0.908, 1e-3 to 1e-1 within 0.001.
GRID: dict[str, tuple[Any, ...]] = {
    "hog": (
        HogSpec(cells=(4,), orientations=9),  # Dalal & Triggs' 9 unsigned bins
        HogSpec(cells=(4,), orientations=12, signed=True),
        HogSpec(cells=(3,), orientations=12),
        HogSpec(cells=(3,), orientations=12, signed=True),
        HogSpec(cells=(3,), orientations=18, signed=True),
        HogSpec(cells=(3, 6), orientations=12, signed=True),
    ),
    "C": (1e-3, 1e-2, 1e-1),
}
REFINE_C = (0.1, 0.3, 3.0)  # stage 2 of `tune`: multiples of stage 1's best C, on stage 1's best descriptor
SVM_SPEC = SvmSpec()  # `tune`'s SVM settings but C, which the grid sets


@dataclasses.dataclass(frozen=True)
class DescriptorSettings:
    """The descriptor row's recipe: the HOG settings, the SVM settings, and whether features are standardised."""

    hog: HogSpec
    svm: SvmSpec
    standardize: bool = True


@dataclasses.dataclass(frozen=True)
class Classifier:
    """A fitted SVM and the standardisation it expects: scores = ((features - mean) / std) @ w + b."""

    params: Params
    mean: np.ndarray
    std: np.ndarray
    log: dict[str, Any]

    def predict(self, features: np.ndarray) -> np.ndarray:
        return predict(self.params, (features - self.mean) / self.std)


def split_validation(
    images: np.ndarray, labels: np.ndarray, size: int = VALIDATION_SIZE
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(fit images, fit labels), (validation images, validation labels): the validation part is the last `size`."""
    if not 0 < size < len(labels):
        raise ValueError(f"size: expected 0 < size < {len(labels)} (the training set), got {size!r}")
    return (images[:-size], labels[:-size]), (images[-size:], labels[-size:])


def fit(
    key: jax.Array,
    features: np.ndarray,
    labels: np.ndarray,
    svm: SvmSpec,
    standardize: bool = True,
    num_classes: int = NUM_CLASSES,
) -> Classifier:
    """Standardises `features` with their own statistics (if asked) and fits the SVM on them."""
    if standardize:
        mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    else:
        mean, std = np.zeros(features.shape[1], np.float32), np.ones(features.shape[1], np.float32)
    params, log = train_svm(key, (features - mean) / std, labels, svm, num_classes)
    return Classifier(params, mean.astype(np.float32), std.astype(np.float32), log)


def error(classifier: Classifier, features: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of misclassified examples."""
    return float(np.mean(classifier.predict(features) != labels))


def param_count(settings: DescriptorSettings, height: int, width: int, num_classes: int = NUM_CLASSES) -> int:
    """The SVM's trainable parameters: D x K weights + K biases (the standardisation statistics are not trained)."""
    return settings.hog.dim(height, width) * num_classes + num_classes


def mac_count(settings: DescriptorSettings, height: int, width: int, num_classes: int = NUM_CLASSES) -> int:
    """Multiply-accumulates per image of the weight layers: the two 3x3 Sobel filters and the linear SVM (the
    histogram binning and block normalisation are not counted)."""
    return 2 * 9 * height * width + settings.hog.dim(height, width) * num_classes


def tune(
    images: np.ndarray,
    labels: np.ndarray,
    grid: dict[str, tuple[Any, ...]] = GRID,
    svm: SvmSpec = SVM_SPEC,
    *,
    refine: tuple[float, ...] = REFINE_C,
    seed: int = 0,
    validation_size: int = VALIDATION_SIZE,
    previous: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Settings fitted on all but the last `validation_size` training images, scored on those last ones, in two
    stages: 1. every (descriptor, C) of `grid`; 2. stage 1's best descriptor with its C times each of `refine`.

    Fits are deterministic, so the records of `previous` (an earlier result of `tune` on the same split and seed)
    with the same settings are reused instead of refitted: an interrupted or extended tuning fits only what is new.

    Returns a JSON-serialisable dict: the split, the seed, one record per setting (stage, validation and fit errors,
    seconds) and the chosen one (lowest validation error; the first visited on ties).
    """
    (fit_images, fit_labels), (val_images, val_labels) = split_validation(images, labels, validation_size)
    split = {
        "fit": f"training images [0, {len(fit_labels)})",
        "validation": f"training images [{len(fit_labels)}, {len(labels)}) (the last {len(val_labels)})",
    }
    reusable = previous is not None and previous["split"] == split and previous["seed"] == seed
    done = {_settings_key(r["hog"], r["svm"]): r for r in previous["grid"]} if reusable else {}
    cached: dict[HogSpec, tuple[np.ndarray, np.ndarray, float]] = {}  # the current descriptor's features only

    def evaluate(spec: HogSpec, C: float, stage: int) -> dict[str, Any]:
        settings = dataclasses.replace(svm, C=C)
        key = _settings_key(dataclasses.asdict(spec), dataclasses.asdict(settings))
        if key in done:
            record = {**done[key], "stage": stage}
        else:
            if spec not in cached:
                cached.clear()
                started = time.perf_counter()
                features = hog_features(fit_images, spec), hog_features(val_images, spec)
                cached[spec] = (*features, time.perf_counter() - started)
            fit_features, val_features, feature_seconds = cached[spec]
            started = time.perf_counter()
            classifier = fit(jax.random.key(seed), fit_features, fit_labels, settings)
            record = {
                "stage": stage,
                "hog": dataclasses.asdict(spec),
                "svm": dataclasses.asdict(settings),
                "dim": fit_features.shape[1],
                "val_error": error(classifier, val_features, val_labels),
                "fit_error": error(classifier, fit_features, fit_labels),
                "feature_seconds": round(feature_seconds, 2),
                "svm_seconds": round(time.perf_counter() - started, 2),
            }
        log(
            f"tune: stage {stage} cells={spec.cells} orientations={spec.orientations} signed={spec.signed} "
            f"C={C:g}: val_error={record['val_error']:.4f} fit_error={record['fit_error']:.4f}"
            + (" (reused)" if key in done else "")
        )
        return record

    def best(records: list[dict[str, Any]]) -> dict[str, Any]:
        return min(enumerate(records), key=lambda ir: (ir[1]["val_error"], ir[0]))[1]

    results = [evaluate(spec, C, 1) for spec in grid["hog"] for C in grid["C"]]
    first = best(results)
    spec = HogSpec(**{**first["hog"], "cells": tuple(first["hog"]["cells"])})
    tried = {r["svm"]["C"] for r in results if r["hog"] == first["hog"]}
    for C in sorted({float(f"{first['svm']['C'] * m:.3g}") for m in refine} - tried):
        results.append(evaluate(spec, C, 2))
    return {"split": split, "seed": seed, "grid": results, "best": best(results)}


def _settings_key(hog: dict[str, Any], svm: dict[str, Any]) -> str:
    return json.dumps({"hog": {**hog, "cells": list(hog["cells"])}, "svm": svm}, sort_keys=True)


def settings_from_record(record: dict[str, Any], standardize: bool = True) -> DescriptorSettings:
    """The `DescriptorSettings` of a tuning record (see `tune`)."""
    hog = {**record["hog"], "cells": tuple(record["hog"]["cells"])}
    return DescriptorSettings(HogSpec(**hog), SvmSpec(**record["svm"]), standardize)


def run(
    settings: DescriptorSettings,
    seed: int,
    workdir: Path,
    images: np.ndarray,
    labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
) -> dict[str, Any]:
    """Fits on (images, labels) with `seed`, evaluates once on the test images; saves the classifier in `workdir`.

    Returns test_error, epochs, params, macs and details (train error, final objective, timings).
    """
    started = time.perf_counter()
    features, test_features = hog_features(images, settings.hog), hog_features(test_images, settings.hog)
    feature_seconds = time.perf_counter() - started
    classifier = fit(jax.random.key(seed), features, labels, settings.svm, settings.standardize)
    height, width = images.shape[1:3]
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(
        workdir / "classifier.npz",
        mean=classifier.mean,
        std=classifier.std,
        **{k: np.asarray(v) for k, v in classifier.params.items()},
    )
    return {
        "test_error": error(classifier, test_features, test_labels),
        "epochs": settings.svm.epochs,
        "params": param_count(settings, height, width),
        "macs": mac_count(settings, height, width),
        "details": {
            "train_error": error(classifier, features, labels),
            "final_objective": classifier.log["objective"][-1],
            "feature_seconds": round(feature_seconds, 2),
            "settings": {
                "hog": dataclasses.asdict(settings.hog),
                "svm": dataclasses.asdict(settings.svm),
                "standardize": settings.standardize,
            },
            "train_images": len(labels),
            "test_images": len(test_labels),
        },
    }


def run_fashion_mnist(settings: DescriptorSettings, seed: int, workdir: Path, runlocal: bool = False) -> dict[str, Any]:
    """`run` on Fashion-MNIST (all 60,000 training images; the test set). `runlocal`: a smoke run of seconds on the
    first 2,000 / 1,000 images with 2 epochs."""
    data = load_dataset("fashion_mnist")
    images, labels, test_images, test_labels = data.train.images, data.train.labels, data.test.images, data.test.labels
    if runlocal:
        images, labels, test_images, test_labels = images[:2000], labels[:2000], test_images[:1000], test_labels[:1000]
        settings = dataclasses.replace(settings, svm=dataclasses.replace(settings.svm, epochs=2))
    return run(settings, seed, workdir, images, labels, test_images, test_labels)
