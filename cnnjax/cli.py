"""The `cnnjax` command: `cnnjax train ...`, `cnnjax summary ...`, `cnnjax viz ...` (in cnnjax/viz/cli.py),
`cnnjax repro ...` (in cnnjax/repro/cli.py).

Each subcommand has an `add_<name>_parser(subparsers)` that declares its arguments and a `<name>(args, extra)`
that runs it; `main()` only dispatches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence

from cnnjax.backend import PROFILES

# ------------------------------------------------------------------------------------------------------ train

TRAIN_EPILOG = """\
config overrides: --config.KEY=VALUE (or --config.KEY VALUE) sets any key of the config, parsed by
ml_collections' config_flags for the key's type, e.g. --config.optimizer.lr=0.05 --config.augment.flip=true
--config.schedule.decay_epochs=30,60; --config.model_options.NAME=VALUE sets a model option, parsed by the type
the model declares. They apply after --config FILE and the flags above. An unknown key fails and lists the valid
ones. Every value is checked before anything runs.

examples:
  cnnjax train --model lenet5 --dataset fashion_mnist --epochs 10
  cnnjax train --model autoencoder --dataset fashion_mnist --loss l2
  cnnjax train --model unet --dataset fashion_mnist
  cnnjax train --model lenet5 --loss multiclass_hinge --config.label_smoothing=0
  cnnjax train --config experiments/configs/resnet20_cifar10.py --workdir runs/resnet20
  cnnjax train --config experiments/configs/lenet5_fashion_mnist.py:runlocal --config.optimizer.lr=0.01

Without --config, the model's packaged recipe runs (cnnjax/train/recipes/: classifier.py for the classifiers,
autoencoder.py, unet.py). A run whose workdir holds a checkpoint resumes from it: rerun the same command with
the same --workdir.
"""


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train and evaluate a model",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        description="Train a model and evaluate it on the test split; writes metrics, checkpoints and a manifest "
        "to the workdir. The last line printed is the task's main test metric: 'test_accuracy: ...' for a "
        "classifier, 'test_mse: ...' for the autoencoder, 'test_mean_iou: ...' for the U-Net.",
    )
    p.add_argument(
        "--config",
        metavar="FILE[:ARG]",
        help="a config file with get_config() (default: the model's "
        "packaged recipe); ':ARG' is passed to get_config, one of the file's ARGS, e.g. ':runlocal'",
    )
    p.add_argument("--workdir", help="output directory (default: runs/<model>_<dataset>_<timestamp>)")
    p.add_argument("--model", help="model name (config.model), see cnnjax.models.list_models()")
    p.add_argument("--dataset", help="dataset name (config.dataset), see cnnjax.data.list_datasets()")
    p.add_argument(
        "--loss",
        help="the loss (config.loss): softmax_cross_entropy (the classifiers' default), "
        "multiclass_hinge (classifiers), l2 (reconstruction), pixel_softmax_cross_entropy (segmentation)",
    )
    p.add_argument("--epochs", type=int, help="the run's length in epochs (config.num_epochs; sets num_steps=0)")
    p.add_argument("--steps", type=int, help="the run's length in steps (config.num_steps; sets num_epochs=0)")
    p.add_argument("--batch-size", type=int, help="global batch size (config.batch_size)")
    p.add_argument("--seed", type=int, help="root seed (config.seed)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="STEPS",
        help="save a checkpoint every STEPS steps (config.checkpoint_every_steps; 0: every epoch)",
    )
    p.add_argument(
        "--limit-train",
        type=int,
        metavar="N",
        help="use the first N >= 1 training examples (config.limit_train; default: all)",
    )
    p.add_argument(
        "--data-dir",
        help="dataset files: the IDX directory for mnist/fashion_mnist, the tfds data_dir otherwise (config.data_dir)",
    )
    p.add_argument(
        "--precision",
        help="compute dtype: float32 (default), bfloat16 or float16; parameters, optimiser state, loss and "
        "batch-norm statistics stay float32 (config.precision)",
    )
    p.add_argument(
        "--coordinator-address",
        metavar="HOST:PORT",
        help="multi-process: address of process 0, or auto (jax.distributed finds it: TPU pod slices, "
        "SLURM) (config.distributed.coordinator_address)",
    )
    p.add_argument("--num-processes", type=int, help="multi-process: number of processes")
    p.add_argument("--process-id", type=int, help="multi-process: this process's index")
    p.add_argument(
        "--numerics",
        choices=sorted(PROFILES),
        help="the numerics profile (config.numerics; "
        "cnnjax.backend.PROFILES): fast, the fastest on x86 CPUs; portable, the fewest CPU-dependent paths "
        "and deterministic GPU ops (docs/reproducibility.md); xla, XLA's own. Default: the config's, else "
        "$CNNJAX_PROFILE, else fast",
    )


# Direct flag -> config key.
TRAIN_FLAGS = {
    "model": "model",
    "dataset": "dataset",
    "loss": "loss",
    "epochs": "num_epochs",
    "steps": "num_steps",
    "batch_size": "batch_size",
    "seed": "seed",
    "checkpoint_every": "checkpoint_every_steps",
    "limit_train": "limit_train",
    "data_dir": "data_dir",
    "precision": "precision",
    "coordinator_address": "distributed.coordinator_address",
    "num_processes": "distributed.num_processes",
    "process_id": "distributed.process_id",
    "numerics": "numerics",
}


def build_train_config(args: argparse.Namespace, extra: Sequence[str]):
    """The validated config of a `cnnjax train` command line: the file (or the model's packaged recipe) -> the
    flags -> the --config.* settings (`cnnjax.train.config.override`: parsed by ml_collections' config_flags)."""
    from cnnjax.train import config as configlib
    from cnnjax.train import recipes

    if args.epochs is not None and args.steps is not None:
        raise ValueError(
            f"--epochs / --steps: expected the run's length in one of them, got both ({args.epochs} / {args.steps})"
        )
    config = configlib.load_config(args.config) if args.config else recipes.recipe(args.model or "lenet5")
    for flag, key in TRAIN_FLAGS.items():
        if getattr(args, flag) is not None:
            configlib.set_value(config, key, getattr(args, flag))
    if args.epochs is not None:
        config.num_steps = 0
    if args.steps is not None:
        config.num_epochs = 0
    return configlib.validate(configlib.override(config, extra))


def train(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Runs `cnnjax train`; returns the exit status."""
    from cnnjax import backend
    from cnnjax import train as trainlib
    from cnnjax.train.workdir import resume_command

    try:
        config = build_train_config(args, extra)
        config.numerics = backend.choose_profile(config=config.numerics, default="fast")
        backend.configure(config.numerics)  # before anything starts JAX
    except (ValueError, TypeError, RuntimeError) as e:  # RuntimeError: this process runs another profile already
        print(f"cnnjax train: error: {e}", file=sys.stderr)
        return 2
    workdir = args.workdir or trainlib.default_workdir(config)
    try:
        trainlib.train_and_evaluate(config, workdir)
    except trainlib.Interrupted as e:
        print(f"cnnjax train: {e}", file=sys.stderr)
        if args.workdir is None and e.step:  # the workdir was chosen here: say how to resume
            print(f"cnnjax train: to resume: {resume_command(args.argv, workdir)}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:  # a second signal: stopped at once
        print(
            f"cnnjax train: stopped by a second interrupt without saving; the newest checkpoint in {workdir} (if "
            "any) is where the same command resumes",
            file=sys.stderr,
        )
        return 130
    except (
        ValueError,
        TypeError,
        FileNotFoundError,
        FloatingPointError,
        ImportError,
        trainlib.CheckpointWriteError,
    ) as e:
        print(f"cnnjax train: error: {e}", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------------------------------ summary

SUMMARY_EPILOG = """\
MACs are multiply-accumulates per example of the weight layers (conv, dense); params are trainable parameters,
batch_stats BatchNorm's running statistics; RF and jump are the receptive field of an output unit and the
distance between neighbouring units, in input pixels. Nothing is allocated: the model is traced abstractly.

examples:
  cnnjax summary alexnet
  cnnjax summary resnet50 --set version=v1 --json
  cnnjax summary googlenet --set aux_logits=True --num-classes 10 --input-shape 96 96 3
"""


def add_summary_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "summary",
        help="layers, parameters, MACs and receptive fields of a model",
        epilog=SUMMARY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        description="Print a model's layers in call order with output shape, parameters, MACs and receptive field.",
    )
    p.add_argument("name", metavar="NAME", help="a registered model, see cnnjax.models.list_models()")
    p.add_argument(
        "--input-shape",
        type=int,
        nargs="+",
        metavar="N",
        help="one example's shape, H W C (default: the model's native input)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="options",
        help="a model option, VALUE read by the option's type (bools: true/false, yes/no, 1/0; tuples: "
        "16,32) (repeatable), e.g. --set version=v1 --set aux_logits=true",
    )
    p.add_argument("--num-classes", type=int, help="output classes (default: the model's native number)")
    p.add_argument("--batch-size", type=int, default=1, help="batch axis of the traced input (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def parse_model_options(name: str, items: Sequence[str]) -> dict[str, object]:
    """['version=v1', 'aux_logits=false'] -> {'version': 'v1', 'aux_logits': False}: each VALUE read by the type
    the model `name` declares for KEY (`cnnjax.models.parse_option`)."""
    from cnnjax import models

    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--set: expected KEY=VALUE with KEY an option name, got {item!r}")
        if key in options:
            raise ValueError(f"--set: expected each option once, got {key} twice ({key}={options[key]!r} and {item!r})")
        options[key] = models.parse_option(name, key, text)
    return options


def summary(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Runs `cnnjax summary`; returns the exit status (2 for a bad command line)."""
    from cnnjax import models
    from cnnjax.summary import summary as summarise

    try:
        if extra:
            raise ValueError(f"unrecognized arguments: {' '.join(extra)}")
        if args.name not in models.list_models():
            raise ValueError(f"NAME: expected one of {', '.join(models.list_models())}; got {args.name!r}")
        options = parse_model_options(args.name, args.options)
        if args.num_classes is not None:
            if "num_classes" in options:
                raise ValueError(
                    f"--num-classes: expected it or --set num_classes=N, got both ({args.num_classes} and "
                    f"{options['num_classes']})"
                )
            options["num_classes"] = args.num_classes
        model = models.create(args.name, **options)
        shape = models.input_shape(args.name) if args.input_shape is None else args.input_shape
        with warnings.catch_warnings(record=True) as caught:  # e.g. an input that leaves 1x1 maps
            warnings.simplefilter("always")
            result = summarise(model, shape, batch_size=args.batch_size)
    except (ValueError, TypeError) as e:
        print(f"cnnjax summary: error: {e}", file=sys.stderr)
        return 2
    for warning in caught:
        print(f"cnnjax summary: warning: {warning.message}", file=sys.stderr)
    print(json.dumps({"name": args.name, **result.to_dict()}) if args.json else result)
    return 0


# ------------------------------------------------------------------------------------------------------ main


def add_viz_parser(subparsers: argparse._SubParsersAction) -> None:
    """`cnnjax viz` lives in cnnjax/viz/cli.py; it imports matplotlib (the 'viz' extra) only when it runs."""
    subparsers.add_parser(
        "viz",
        add_help=False,
        help="figures of a training workdir (filters, feature maps, "
        "occlusion, saliency, curves, confusion, ...); needs the 'viz' extra",
    )


def viz(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from cnnjax.viz import cli as vizcli

    parser = argparse.ArgumentParser(prog="cnnjax", allow_abbrev=False)
    vizcli.add_viz_parser(parser.add_subparsers(dest="command"))
    return vizcli.viz(*parser.parse_known_args(["viz", *extra]))


def add_repro_parser(subparsers: argparse._SubParsersAction) -> None:
    """`cnnjax repro` lives in cnnjax/repro/cli.py (its figure needs the 'viz' extra)."""
    subparsers.add_parser(
        "repro",
        add_help=False,
        help="a reproducibility study of a config over seeds (mean, "
        "confidence interval, rerun and device checks); compare two studies; diff two runs",
    )


def repro(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from cnnjax.repro import cli as reprocli

    return reprocli.main(extra)


SUBCOMMANDS = {
    "train": (add_train_parser, train),
    "summary": (add_summary_parser, summary),
    "viz": (add_viz_parser, viz),
    "repro": (add_repro_parser, repro),
}


# Subcommands that configure cnnjax.backend themselves, from their own options; before the others start JAX, main
# runs $CNNJAX_PROFILE, else "fast".
CHOOSE_PROFILE = frozenset({"train"})


def main(argv: Sequence[str] | None = None) -> int:
    from cnnjax import backend

    parser = argparse.ArgumentParser(prog="cnnjax", description="Convolutional networks in JAX.", allow_abbrev=False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser, _ in SUBCOMMANDS.values():
        add_parser(subparsers)
    args, extra = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed, for the resume command
    if args.command not in CHOOSE_PROFILE:
        backend.configure()
    try:
        return SUBCOMMANDS[args.command][1](args, extra)
    except BrokenPipeError:  # the reader of stdout went away (`cnnjax summary vgg11 | head`): stop quietly, as
        # Python's documentation advises (its "Note on SIGPIPE"): stdout to devnull so that exit's flush cannot fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
