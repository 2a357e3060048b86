"""Fixed against learned first-layer filters, with 500 and 5,000 training images; and what the learned ones look
like next to the fixed bank.

    python -m experiments.studies run filters [--seeds 0-4]

Each arm of config.py is a `cnnjax repro` study (runs/studies/filters/<arm>/). Reported: test accuracy per arm and
fixed - learned per training-set size. The resemblance of learned filters to the bank is measured: for each
learned first-layer filter (3x3, centred to zero mean as edge detectors are; the blurs and the sharpeners differ
from the identity in their mean only) the largest |cosine similarity| with a centred bank filter, against the same
for random Gaussian filters (RANDOM_FILTERS draws, numpy seed 0). The figures show the bank and the learned filters
of seed 0 (`cnnjax.viz.figures.filters_figure`, as `cnnjax viz filters` draws them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnnjax import functional as F
from cnnjax.viz import figures, load_run
from experiments.studies import common
from experiments.studies.filters.config import ARGS, TRAIN_SIZES

CONFIG = "experiments/studies/filters/config.py"
ARMS = ARGS
SEEDS = "0-4"
RANDOM_FILTERS = 10_000


def _centred_unit(filters: np.ndarray) -> np.ndarray:
    """(K, 9) filters minus their means, scaled to unit norm (a constant filter, zero up to rounding, stays zero)."""
    centred = filters - filters.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 1e-6 * np.sqrt(filters.shape[1]))


def bank_similarity(kernel: np.ndarray) -> list[float]:
    """For each filter of a (3, 3, 1, K) kernel: the largest |cosine| between it and a bank filter, both centred."""
    bank = _centred_unit(F.filter_bank(1)[:, :, 0, :].reshape(9, -1).T)
    learned = _centred_unit(np.asarray(kernel)[:, :, 0, :].reshape(9, -1).T)
    return np.abs(learned @ bank.T).max(axis=1).tolist()


def random_similarity() -> float:
    """The mean of `bank_similarity` over RANDOM_FILTERS Gaussian filters."""
    kernel = np.random.default_rng(0).normal(size=(3, 3, 1, RANDOM_FILTERS))
    return float(np.mean(bank_similarity(kernel)))


def run(seeds: list[int], runs_dir: str) -> dict[str, Any]:
    """Trains the arms (`cnnjax repro`), then reads the learned arms' first-layer kernels."""
    arms = common.train_arms(CONFIG, ARMS, seeds, runs_dir)
    for n in TRAIN_SIZES:
        learned = arms[f"learned_{n}"]
        kernels = {
            str(s): np.asarray(load_run(common.seed_workdir(learned, s)).variables["params"]["conv1"]["kernel"])
            for s in seeds
        }
        learned["bank_similarity"] = {s: float(np.mean(bank_similarity(k))) for s, k in kernels.items()}
        learned["conv1_kernel_first_seed"] = kernels[str(seeds[0])].tolist()
    return {"seeds": seeds, "random_similarity": random_similarity(), "arms": arms}


def write(results: dict[str, Any], out_dir: Path) -> None:
    """The tables into README.md and the figures fixed_filters.png, learned_filters.png."""
    arms = results["arms"]

    def accuracy(arm: str) -> list[float]:
        return list(arms[arm]["test_accuracy"].values())

    comparisons = [
        common.comparison(
            f"fixed_{n}", f"learned_{n}", accuracy(f"fixed_{n}"), accuracy(f"learned_{n}"), "test_accuracy"
        )
        for n in TRAIN_SIZES
    ]
    similarity = {f"learned_{n}": list(arms[f"learned_{n}"]["bank_similarity"].values()) for n in TRAIN_SIZES}
    text = "\n\n".join(
        [
            common.summary_table("test accuracy", {arm: accuracy(arm) for arm in ARMS}),
            common.comparison_table(comparisons),
            "How much the learned first-layer filters resemble the bank: the mean over a seed's 11 filters of the "
            "largest |cosine similarity| with a bank filter (both centred); random Gaussian filters give "
            f"{results['random_similarity']:.3f}.",
            common.summary_table("similarity to the bank", similarity, digits=3),
            f"Seeds {', '.join(map(str, results['seeds']))}; {common.environment_line(results['environment'])}. "
            + common.checks_line(arms),
        ]
    )
    common.replace_block(out_dir / "README.md", "results", text)
    bank = F.filter_bank(1)  # each filter is drawn on its own min..max: the scaling does not show
    figures.save(figures.filters_figure(bank, title="the fixed bank (as in the notes)"), out_dir / "fixed_filters.png")
    seed = results["seeds"][0]
    learned = np.asarray(arms[f"learned_{TRAIN_SIZES[-1]}"]["conv1_kernel_first_seed"])
    title = f"learned conv1, {TRAIN_SIZES[-1]:,} images, seed {seed}"
    figures.save(figures.filters_figure(learned, title=title), out_dir / "learned_filters.png")
