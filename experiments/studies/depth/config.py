"""Depth with and without residual connections (He et al. 2015, section 4.2): the arms.

    cnnjax repro experiments/studies/depth/config.py:plain_20 --seeds 0-4 --out runs/studies/depth/plain_20
    python -m experiments.studies run depth

  plain_8, plain_20, plain_56           the CIFAR ResNets' layers (6n + 2 weight layers, n = 1, 3, 9) without
                                        shortcuts: the paper's "plain" networks
  residual_8, residual_20, residual_56  the same with identity shortcuts (option A: no extra parameters)

Widths 16-32-64 as in the paper; on 28x28x1 the stem's convolution has stride 2, so the stages work at 14, 7 and 4
pixels (a quarter of the paper's cost per image). The paper's optimiser (SGD, momentum 0.9, lr 0.1, weight decay
1e-4 as an L2 term, batch 128) with a warm-up over the first tenth then cosine decay, 10 epochs on the first 5,000
training images; all 10,000 test images, evaluated after every second epoch.
"""

from cnnjax.train.config import default_config

DEPTHS = {8: 1, 20: 3, 56: 9}  # weight layers -> blocks per stage (n)
ARGS = tuple(f"{kind}_{depth}" for kind in ("plain", "residual") for depth in DEPTHS)


def get_config(arg: str | None = None):
    if arg not in ARGS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    kind, depth = arg.split("_")
    config = default_config()
    config.model = "resnet20"
    n = DEPTHS[int(depth)]
    config.model_options.stage_sizes = (n, n, n)
    config.model_options.residual = kind == "residual"
    config.model_options.stem_stride = 2
    config.optimizer.name = "momentum"
    config.optimizer.lr = 0.1
    config.regularization.l2 = 1e-4
    config.schedule.name = "cosine"
    config.schedule.warmup_fraction = 0.1
    config.num_epochs = 10
    config.eval_every_epochs = 2
    config.limit_train = 5_000
    return config
