"""ResNet-20 (He et al. 2015, the CIFAR network of section 4.2: n = 3, widths 16-32-64, option A shortcuts, BN),
the registered `resnet20` at full resolution (stride-1 stem: stages at 28x28, 14x14, 7x7): the candidate adaptation
of the progression study's 2015 row compared with the stride-2 stem of resnet20s2_fashion_mnist.py on the
validation split.

    python -m experiments.progression tune --row resnet --config experiments/configs/resnet20s1_fashion_mnist.py
    cnnjax train --config experiments/configs/resnet20s1_fashion_mnist.py --workdir runs/resnet20s1_fashion_mnist

Same recipe as the stride-2 config (the paper's section 4.2: SGD momentum 0.9, batch 128, lr 0.1 after a
half-epoch warm-up, /10 at 50% and 75% of the run, weight decay 1e-4, BN, 2-pixel shifts, flips), but 4x the MACs
(31M per image), so the budget buys 4 epochs instead of 18.
Budget: 203 img/s for this config's training step on the idle machine (`benchmarks/config_speed.py`,
benchmarks/results/progression_speed.json), so 4 epochs: the most whose training steps fit 1300 s, the study's
rule for every CNN row (evaluations and the loop add ~10-15%: ~25 minutes a seed).
Tiny run: --config experiments/configs/resnet20s1_fashion_mnist.py:runlocal; ':validation' holds out the last
10,000 training images and evaluates on them (paper_sgd.py), never on the test set.
"""

import paper_sgd  # next to this file: the config loader puts this folder on sys.path

ARGS = paper_sgd.ARGS


def get_config(arg: str | None = None):
    return paper_sgd.sgd_recipe(
        arg,
        model="resnet20",
        epochs=4,
        batch_size=128,
        lr=0.1,
        l2=1e-4,
        warmup_epochs=0.5,
    )
