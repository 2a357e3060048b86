"""GoogLeNet (Szegedy et al. 2014), the registered `googlenet` (the paper's layout: biases, LRN, real 5x5 branches,
no BN, dropout 0.4) at 28x28x1: the progression study's 2014 GoogLeNet row.

    cnnjax train --config experiments/configs/googlenet_fashion_mnist.py --workdir runs/googlenet_fashion_mnist
    python -m experiments.progression run --row googlenet --seed 0

Adaptation to 28x28x1: `small_input=True` (conv1 3x3/1 pad 1, the rest as published: maps 28, 14 after max-pool 1,
7 at inception 3a-3b, 4 at 4a-4e, 2 at 5a-5b, then the global average pool), a quarter of the widths (`width=0.25`:
inception 3a is 16-24-32-4-8-8) for the 25-minute budget, and no auxiliary classifiers (their 5x5/3 pool needs 4a
maps of at least 5x5; the paper found them worth about 0.5%). Recipe as the paper's section 6 (asynchronous SGD with
momentum 0.9, lr decreased by a fixed factor step-wise; Caffe's bvlc_googlenet: lr 0.01, weight decay 2e-4, batch
32) with one synchronous SGD: batch 128, lr 0.01 divided by 10 at 50% and 75% of the epochs, weight decay 2e-4 (L2 on
the kernels), dropout 0.4 before the classifier, LRN as published; augmentation: random 2-pixel shifts (the
paper's crops of varied sizes do not fit 28x28) and horizontal flips.
Budget: 400 img/s for this config's training step on the idle machine (`benchmarks/config_speed.py`,
benchmarks/results/progression_speed.json), so 8 epochs: the most whose training steps fit 1300 s, the study's
rule for every CNN row (evaluations and the loop add ~10-15%: ~25 minutes a seed).
Tiny run: --config experiments/configs/googlenet_fashion_mnist.py:runlocal; ':validation' holds out the last
10,000 training images and evaluates on them (paper_sgd.py), never on the test set.
"""

import paper_sgd  # next to this file: the config loader puts this folder on sys.path

ARGS = paper_sgd.ARGS

# Checked on validation: not yet; no validation run of this row was made (time), nothing was tuned; the check is
# `python -m experiments.progression tune --row googlenet` (the last 10,000 training images; never the test set).


def get_config(arg: str | None = None):
    return paper_sgd.sgd_recipe(
        arg,
        model="googlenet",
        epochs=8,
        batch_size=128,
        lr=0.01,
        l2=2e-4,
        model_options=dict(small_input=True, width=0.25),
    )
