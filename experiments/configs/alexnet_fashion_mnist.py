"""AlexNet (Krizhevsky et al. 2012), the registered `alexnet` (two towers, LRN, dropout 0.5) at 28x28x1: the
progression study's 2012 row.

    cnnjax train --config experiments/configs/alexnet_fashion_mnist.py --workdir runs/alexnet_fashion_mnist
    python -m experiments.progression run --row alexnet --seed 0

Adaptation to 28x28x1: `small_input=True` (conv1 3x3/1 pad 1, the three overlapping 3x3/2 max-pools the only
downsampling: maps 28, 13, 6, 6, 6 -> 2x2x256w), a quarter of the widths (`width=0.25`: conv 24-64-96-96-64, still
in two towers) and fc 1024-1024 instead of 4096-4096 to fit the study's 25-minute budget on 2 CPU cores; He-normal
weights and zero biases instead of the paper's N(0, 0.01^2) with biases 1 (which needs far more than this run's
steps to start learning). Recipe as the paper's section 5: SGD with momentum 0.9, batch 128, lr 0.01 divided by 10
twice (the paper did it three times, on a validation plateau; here at 50% and 75% of the epochs), weight decay 5e-4
(an L2 penalty on the kernels), dropout 0.5 in fc1 and fc2, LRN after conv1 and conv2; augmentation: random 2-pixel
shifts (the paper's 224 crops of 256 at this scale) and horizontal flips (as the paper's).
Budget: 424 img/s for this config's training step on the idle machine (`benchmarks/config_speed.py`,
benchmarks/results/progression_speed.json), so 9 epochs: the most whose training steps fit 1300 s, the study's
rule for every CNN row (evaluations and the loop add ~10-15%: ~25 minutes a seed).
Tiny run: --config experiments/configs/alexnet_fashion_mnist.py:runlocal; ':validation' holds out the last 10,000
training images and evaluates on them (paper_sgd.py), never on the test set.
"""

import paper_sgd  # next to this file: the config loader puts this folder on sys.path

ARGS = paper_sgd.ARGS

# Checked on validation (the last 10,000 training images, seed 0, `fast`; nothing tuned): validation accuracy
# 0.8830 as configured, 0.8834 with model_options.lrn=False (experiments/progression/lrn_check.py, README "Findings").


def get_config(arg: str | None = None):
    return paper_sgd.sgd_recipe(
        arg,
        model="alexnet",
        epochs=9,
        batch_size=128,
        lr=0.01,
        l2=5e-4,
        model_options=dict(small_input=True, width=0.25, fc_features=1024, weight_init="he"),
    )
