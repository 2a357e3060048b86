"""The 2010/2011 row: hand-designed descriptors (`hog`) + a linear multiclass SVM (`svm`), tuned on a validation split.

Validation: the last `VALIDATION_SIZE` (10,000) images of the Fashion-MNIST training file, always the same ones; the
SVM is fitted on the first 50,000 for every setting of `GRID`, with seed 0, and the setting of the lowest validation
error (the first such one in grid order) is the row's. The row then fits on all 60,000 training images and is
evaluated once on the test set. Feature standardisation (mean 0, std 1 per dimension) takes its statistics from the
images the SVM is fitted on, never from the validation or test images.
"""

from __future__ import annotations

import dataclasses
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
    key: jax.Array, features: np.ndarray, labels: np.ndarray, svm: SvmSpec, standardize: bool = True,
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
    images: np.ndarray, labels: np.ndarray, grid: dict[str, tuple[Any, ...]] = GRID, svm: SvmSpec = SvmSpec(),
    seed: int = 0, validation_size: int = VALIDATION_SIZE, log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every setting of `grid` (keys 'hog', 'C') fitted on all but the last `validation_size` training images, scored
    on those last ones.

    Returns a JSON-serialisable dict: the split, one record per setting (validation and fit errors, seconds), and the
    chosen setting (lowest validation error; the first in grid order on ties).
    """
    (fit_images, fit_labels), (val_images, val_labels) = split_validation(images, labels, validation_size)
    results = []
    for spec in grid["hog"]:
        started = time.perf_counter()
        fit_features, val_features = hog_features(fit_images, spec), hog_features(val_images, spec)
        feature_seconds = time.perf_counter() - started
        for C in grid["C"]:
            started = time.perf_counter()
            classifier = fit(jax.random.key(seed), fit_features, fit_labels, dataclasses.replace(svm, C=C))
            record = {
                "hog": dataclasses.asdict(spec),
                "svm": dataclasses.asdict(dataclasses.replace(svm, C=C)),
                "dim": fit_features.shape[1],
                "val_error": error(classifier, val_features, val_labels),
                "fit_error": error(classifier, fit_features, fit_labels),
                "feature_seconds": round(feature_seconds, 2),
                "svm_seconds": round(time.perf_counter() - started, 2),
            }
            log(f"tune: cells={spec.cells} orientations={spec.orientations} C={C:g}: "
                f"val_error={record['val_error']:.4f} fit_error={record['fit_error']:.4f}")
            results.append(record)
    best = min(range(len(results)), key=lambda i: (results[i]["val_error"], i))
    return {
        "split": {
            "fit": f"training images [0, {len(fit_labels)})",
            "validation": f"training images [{len(fit_labels)}, {len(labels)}) (the last {len(val_labels)})",
        },
        "seed": seed,
        "grid": results,
        "best": results[best],
    }


def settings_from_record(record: dict[str, Any], standardize: bool = True) -> DescriptorSettings:
    """The `DescriptorSettings` of a tuning record (see `tune`)."""
    hog = {**record["hog"], "cells": tuple(record["hog"]["cells"])}
    return DescriptorSettings(HogSpec(**hog), SvmSpec(**record["svm"]), standardize)


def run(
    settings: DescriptorSettings, seed: int, workdir: Path, images: np.ndarray, labels: np.ndarray,
    test_images: np.ndarray, test_labels: np.ndarray,
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
    np.savez(workdir / "classifier.npz", mean=classifier.mean, std=classifier.std,
             **{k: np.asarray(v) for k, v in classifier.params.items()})
    return {
        "test_error": error(classifier, test_features, test_labels),
        "epochs": settings.svm.epochs,
        "params": param_count(settings, height, width),
        "macs": mac_count(settings, height, width),
        "details": {
            "train_error": error(classifier, features, labels),
            "final_objective": classifier.log["objective"][-1],
            "feature_seconds": round(feature_seconds, 2),
            "settings": {"hog": dataclasses.asdict(settings.hog), "svm": dataclasses.asdict(settings.svm),
                         "standardize": settings.standardize},
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
