"""Mixed precision on the CPU: the same training in float32 and in bfloat16 (`config.precision`), three seeds each.

    cnnjax repro experiments/precision/config.py:lenet5_bfloat16 --seeds 0-2 --numerics fast \
        --out runs/precision/lenet5_bfloat16
    cnnjax repro compare runs/precision/lenet5_bfloat16 runs/precision/lenet5_float32

  lenet5_<precision>      the main job: LeNet-5, the packaged classifier recipe, 10 epochs of all 60,000
                          Fashion-MNIST training images
  resnet20s2_<precision>  ResNet-20 with the stride-2 stem (experiments/configs/resnet20s2_fashion_mnist.py: SGD
                          with momentum, /10 at epochs 5 and 7, 2-pixel shifts and flips) for 10 epochs on the
                          first 10,000 training images (a subset: all 18 epochs in float32 take ~25 minutes here)
for precision float32 and bfloat16 (parameters, optimiser state, the loss and batch norm's statistics in float32
either way). All 10,000 test images. The reports and comparisons are in results/.
"""

from pathlib import Path

from cnnjax.train import load_config
from cnnjax.train.recipes import classifier

RESNET20S2 = Path(__file__).resolve().parents[1] / "configs" / "resnet20s2_fashion_mnist.py"

PRECISIONS = ("float32", "bfloat16")
ARGS = tuple(f"{model}_{p}" for model in ("lenet5", "resnet20s2") for p in PRECISIONS)


def get_config(arg: str | None = None):
    if arg not in ARGS:
        raise ValueError(f"arg: expected one of {ARGS} (config.py:ARG), got {arg!r}")
    model, precision = arg.rsplit("_", 1)
    if model == "lenet5":
        config = classifier.get_config()
        config.model = "lenet5"
    else:
        config = load_config(str(RESNET20S2))
        config.num_epochs = 10
        config.schedule.decay_epochs = (5, 7)  # the recipe's 50% and 75% of the run
        config.limit_train = 10_000
    config.precision = precision
    return config
