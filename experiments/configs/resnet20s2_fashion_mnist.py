"""ResNet-20 (He et al. 2015, the CIFAR network of section 4.2: n = 3, widths 16-32-64, option A shortcuts, BN),
the registered `resnet20` with a stride-2 stem at 28x28x1: the progression study's 2015 row.

    cnnjax train --config experiments/configs/resnet20s2_fashion_mnist.py --workdir runs/resnet20s2_fashion_mnist
    python -m experiments.progression run --row resnet --seed 0

Adaptation to 28x28x1: the stem conv (3x3, 16 maps) has stride 2 (`stem_stride=2`), so the three stages work at
14x14, 7x7 and 4x4 instead of 28, 14, 7: a quarter of the MACs (8.5M instead of 31M per image), which buys the
epochs the 25-minute budget allows at full width and depth. Recipe as the paper's section 4.2: SGD with momentum
0.9, batch 128, lr 0.1 with a linear warm-up over the first half epoch (the paper warmed ResNet-110 up at 0.01 for
400 iterations), divided by 10 at 50% and 75% of the run (the paper's 32k and 48k of 64k iterations), weight decay
1e-4 (L2 on the kernels), BN, no dropout; augmentation: random 2-pixel shifts (the paper's 4 pixels at 32x32) and
horizontal flips (as the paper's).
Budget: 862 img/s for this config's training step on the idle machine (`benchmarks/config_speed.py`,
benchmarks/results/progression_speed.json), so 18 epochs: the most whose training steps fit 1300 s, the study's
rule for every CNN row (evaluations and the loop add ~10-15%: ~25 minutes a seed).
Tiny run: --config experiments/configs/resnet20s2_fashion_mnist.py:runlocal; ':validation' holds out the last
10,000 training images and evaluates on them (paper_sgd.py), never on the test set.
"""

import paper_sgd  # next to this file: the config loader puts this folder on sys.path

ARGS = paper_sgd.ARGS

# Chosen on validation (the last 10,000 training images held out; never the test set), seed 0, each adaptation at
# the epochs its measured step fits in the same budget:
#   this config (stride-2 stem, 18 epochs):             validation error 7.58%
#   resnet20s1_fashion_mnist.py (stride-1 stem, 4 epochs): validation error 8.93%
# (experiments/progression/results/resnet/validation*_seed0.json; `python -m experiments.progression tune --row
# resnet [--config experiments/configs/resnet20s1_fashion_mnist.py]`). At this budget, 4.5x the epochs at a
# quarter of the resolution beat the full-resolution network.


def get_config(arg: str | None = None):
    return paper_sgd.sgd_recipe(
        arg,
        model="resnet20",
        epochs=18,
        batch_size=128,
        lr=0.1,
        l2=1e-4,
        warmup_epochs=0.5,
        model_options=dict(stem_stride=2),
    )
