"""What the ImageNet configs of this folder share: the dataset, evaluation and checkpoint cadence, and their
argument grammar ('runlocal', a variant such as 'resnet101', or 'resnet101,runlocal').

Data. Nothing downloads at run time: `imagenet2012` is read with `tfds.data_source` from a tfds data_dir that holds
it prepared in the array_record format (`cnnjax.data.load_dataset`; each image resized to shorter side 256 and
centre-cropped to 256 x 256 when read). To prepare it once, on a machine with TensorFlow (tfds's imagenet2012
builder decodes and checks the JPEGs with it):

    mkdir -p MANUAL_DIR && mv ILSVRC2012_img_train.tar ILSVRC2012_img_val.tar MANUAL_DIR/   # from image-net.org
    pip install tensorflow tensorflow-datasets
    tfds build imagenet2012 --manual_dir=MANUAL_DIR --data_dir=DIR --file_format=array_record
    python -m cnnjax.data info imagenet2012 --data-dir DIR --no-in-memory   # checks: train=1281167 test=50000

then pass `--data-dir DIR` (or set TFDS_DATA_DIR=DIR). DIR must be readable on every host of a multi-host run;
each process reads only its shard of every batch.

Devices. One command line for one GPU and for one host with 8 GPUs: data parallelism (`cnnjax/parallel.py`) shards
each global batch over all local devices (batch 256 on 8 GPUs: 32 per GPU) and XLA all-reduces the gradients. A TPU
pod slice (or any multi-host cluster that `jax.distributed.initialize()` recognises: Cloud TPU, SLURM, Open MPI)
runs the same command on every host with `--coordinator-address auto`; the workdir must be a folder all hosts share
(process 0 writes the files, all write the orbax checkpoints). Other multi-host set-ups name process 0 explicitly:
`--coordinator-address HOST0:1234 --num-processes N --process-id I`.

Evaluation: top-1 error = 1 - test_accuracy, top-5 error = 1 - test_top5_accuracy (metrics.jsonl, the last line;
for the recipes whose rate follows the validation error, `plateau_on_validation_error`, the last line printed and
the manifest's metrics: their metrics.jsonl holds the held-out images' validation_* metrics).
"""

from __future__ import annotations

import ml_collections

from cnnjax.train.config import default_config, runlocal


def args(variants: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A config file's ARGS: 'runlocal', each variant, and each variant with ',runlocal'."""
    return ("runlocal", *variants, *(f"{v},runlocal" for v in variants))


def parse(arg: str | None, default: str) -> tuple[str, bool]:
    """(variant, runlocal) of a config argument: None -> (default, False), 'runlocal' -> (default, True),
    'resnet101' -> ('resnet101', False), 'resnet101,runlocal' -> ('resnet101', True)."""
    parts = [] if arg is None else arg.split(",")
    local = "runlocal" in parts
    variants = [p for p in parts if p != "runlocal"]
    return (variants[0] if variants else default), local


def base(model: str) -> ml_collections.ConfigDict:
    """`model` on imagenet2012 (test = the 50,000 validation images), evaluated every 5 epochs and at the end,
    a checkpoint every 5,000 steps."""
    config = default_config()
    config.model = model
    config.dataset = "imagenet2012"
    config.eval_batch_size = 256  # a multiple of 8 GPUs and of a pod slice's device count
    config.eval_every_epochs = 5
    config.checkpoint_every_steps = 5_000
    config.log_every_steps = 200
    config.optimizer.name = "momentum"
    config.optimizer.momentum = 0.9
    return config


# Training images held out to watch the validation error on (2% of ILSVRC-2012's 1,281,167: a standard error of
# ~0.3 points on a 30% error); the test split (ILSVRC's 50,000 validation images) is evaluated once, at the end.
HELD_OUT = 25_000


def plateau_on_validation_error(config: ml_collections.ConfigDict, patience: int, reductions: int) -> None:
    """lr x 0.1 when the error on HELD_OUT held-out training images has not improved for `patience` epochs, at most
    `reductions` times (0: no cap): the papers' "divide by 10 when the validation error stops improving". Evaluated
    after every epoch, with the recipe's evaluation views."""
    config.schedule.name = "plateau"
    config.schedule.decay_factor = 0.1
    config.schedule.plateau_metric = "validation_error"
    config.schedule.plateau_patience = patience
    config.schedule.plateau_max_reductions = reductions
    config.validation_examples = HELD_OUT
    config.eval_every_epochs = 1
    config.test_at_end = True


def finish(config: ml_collections.ConfigDict, local: bool) -> ml_collections.ConfigDict:
    """The config, or its runlocal version (8 training batches, 2 evaluation batches, no lr decay)."""
    return runlocal(config) if local else config
