"""VGG-11 (Simonyan & Zisserman 2014, configuration A), the registered `vgg11` (no BatchNorm, as the paper) at
28x28x1: the progression study's 2014 VGG row.

    cnnjax train --config experiments/configs/vgg11_fashion_mnist.py --workdir runs/vgg11_fashion_mnist
    python -m experiments.progression run --row vgg --seed 0

Why configuration A: it is the one the paper trains from random initialisation (the deeper B-E started from A's
layers); without BN, its 11 weight layers train from scratch with Glorot & Bengio's initialisation, which the
paper's footnote 1 reports works without pre-training (`weight_init='glorot'`; torchvision's init does not train
at this width, see below). Adaptation to 28x28x1: the images are zero-padded to 32x32 (`pad_to=32`; five 2x2 max-pools
need 32: maps 32, 16, 8, 4, 2 -> 1x1x128w), a quarter of the widths (`width=0.25`: conv 16-32-64-64-128-128-128-128)
and the CIFAR head (no adaptive pool) with fc 1024-1024 instead of 4096-4096, for the 25-minute budget. Recipe as the
paper's section 3.1: SGD with momentum 0.9, batch 256, lr 0.01 divided by 10 at 50% and 75% of the epochs (the paper
three times on a validation plateau), weight decay 5e-4 (L2 on the kernels), dropout 0.5 after fc1 and fc2;
augmentation: random 2-pixel shifts (the paper's random 224 crops) and horizontal flips (as the paper's).
Budget: 481 img/s for this config's training step on the idle machine (`benchmarks/config_speed.py`,
benchmarks/results/progression_speed.json), so 10 epochs: the most whose training steps fit 1300 s, the study's
rule for every CNN row (evaluations and the loop add ~10-15%: ~25 minutes a seed).
Tiny run: --config experiments/configs/vgg11_fashion_mnist.py:runlocal; ':validation' holds out the last 10,000
training images and evaluates on them (paper_sgd.py), never on the test set.
"""

import paper_sgd  # next to this file: the config loader puts this folder on sys.path

ARGS = paper_sgd.ARGS

# Checked on validation (the last 10,000 training images held out; never the test set), 300 steps of the run:
# with torchvision's init (fc N(0, 0.01^2)) the training loss stayed at ln 10 (2.3022 at step 250): at width 0.25
# the fc layers' fan-in is 128, and N(0, 0.01^2) shrinks the signal ~10x per fc layer (logits ~1e-3 at init, conv
# gradients ~1e-3). With the paper's footnote-1 alternative, Glorot & Bengio's initialisation (weight_init=
# 'glorot'), it left the plateau at step ~175: training loss 1.95 at 175, 1.00 at 300 (accuracy 0.60);
#   cnnjax train --config experiments/configs/vgg11_fashion_mnist.py:validation --config.stop_after_step=300 \
#     --config.log_every_steps=25 [--config.model_options.weight_init=torchvision] --workdir runs/vgg_check


def get_config(arg: str | None = None):
    return paper_sgd.sgd_recipe(
        arg,
        model="vgg11",
        epochs=10,
        batch_size=256,
        lr=0.01,
        l2=5e-4,
        pad_to=32,
        model_options=dict(width=0.25, adaptive_pool=None, fc_features=1024, weight_init="glorot"),
    )
