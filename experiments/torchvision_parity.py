"""Parity of `cnnjax.convert.from_torchvision` with torchvision: same weights, same inputs, same logits.

Two interpreters. `export` runs under the PyTorch reference environment (.venv-torch, see below) and writes, per
case, DIR/<case>.npz: the float32 state dict of a randomly initialised torchvision model (seeded) whose BatchNorm
layers have non-trivial affine parameters and running statistics, an NCHW input batch, and the eval-mode logits
computed in float32 and, with the same weights upcast, in float64. `check` runs under the cnnjax environment,
converts each state dict, runs the cnnjax model in float64 and in float32, and prints relative errors
max |y - y_ref| / max |y_ref| (the largest over the logits and, for googlenet_aux, the two auxiliary heads):

  float64        cnnjax vs torchvision, both in float64: the conversion itself, free of rounding (about 1e-13).
                 Fails above --tolerance (1e-4).
  float32        cnnjax vs torchvision, both in float32, as the models are used.
  f32 rounding   cnnjax float32 vs torchvision float64, next to torchvision's own float32 vs float64 in brackets.
                 Fails where cnnjax's is above both --tolerance and twice torchvision's.

Why both: random deep networks are ill-conditioned, so float32 rounding alone moves ResNet-101/152 logits by 1e-4
to 1e-3 relative, in torchvision as much as in cnnjax; float64 separates a conversion error from that.

One command does both steps, one case at a time (a VGG state dict is about 0.5 GB), deleting each file once
checked; it exits non-zero if any case fails:

  .venv/bin/python experiments/torchvision_parity.py run              # every case below
  .venv/bin/python experiments/torchvision_parity.py run --cases resnet18 googlenet_aux

or in two steps: `.venv-torch/bin/python experiments/torchvision_parity.py export --out DIR [--cases ...]`, then
`.venv/bin/python experiments/torchvision_parity.py check --dir DIR`.

The reference environment (torchvision is installed without its dependencies, then Pillow for its imports):

  python3.11 -m venv .venv-torch && .venv-torch/bin/pip install torch==2.13.0 numpy pillow \
    && .venv-torch/bin/pip install --no-deps torchvision==0.28.0
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TORCH_PYTHON = ROOT / ".venv-torch" / "bin" / "python"
TOLERANCE = 1e-4
AUX_SOURCES = {"aux1": "inception4a", "aux2": "inception4d"}  # GoogLeNet's auxiliary heads and their inputs


class Case(NamedTuple):
    """One parity run: torchvision `model` built with `options`, fed a (batch, 3, size, size) input."""

    model: str
    size: int
    options: Mapping[str, Any] = types.MappingProxyType({})  # read-only: the default is shared by every Case
    batch: int = 2


CASES: dict[str, Case] = {
    "alexnet": Case("alexnet", 224),
    "alexnet_64": Case("alexnet", 64),
    **{f"vgg{d}{bn}": Case(f"vgg{d}{bn}", 32) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    "googlenet": Case("googlenet", 64, {"aux_logits": False, "init_weights": True}),
    "googlenet_aux": Case("googlenet", 64, {"aux_logits": True, "init_weights": True}),
    **{f"resnet{d}": Case(f"resnet{d}", 64) for d in (18, 34, 50, 101, 152)},
    "resnet50_224": Case("resnet50", 224),
}


class Errors(NamedTuple):
    """Relative errors of one case (see the module docstring)."""

    float64: float
    float32: float
    rounding: float  # cnnjax float32 vs torchvision float64
    torch_rounding: float  # torchvision float32 vs torchvision float64

    def ok(self, tolerance: float) -> bool:
        return self.float64 <= tolerance and self.rounding <= max(tolerance, 2 * self.torch_rounding)


def _import_torchvision():
    """torch and torchvision.models. The CPU torch build lacks torchvision's compiled ops (`torchvision::nms`),
    whose fake-tensor registrations run at import: a stand-in `torchvision._meta_registrations` skips them (the
    classification models do not use those ops)."""
    import torch

    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    from torchvision import models

    return torch, models


def _torch_outputs(model, x) -> dict[str, np.ndarray]:
    """Eval-mode logits, plus each GoogLeNet auxiliary head applied in eval mode to the features it reads
    (torchvision runs them only in training)."""
    features = {}
    hooks = [
        getattr(model, source).register_forward_hook(lambda m, i, o, head=head: features.update({head: o}))
        for head, source in AUX_SOURCES.items()
        if getattr(model, head, None) is not None
    ]
    outputs = {"logits": model(x)}
    outputs |= {head: getattr(model, head)(y) for head, y in features.items()}
    for hook in hooks:
        hook.remove()
    return {k: v.numpy() for k, v in outputs.items()}


def export(case_name: str, out: Path, seed: int = 0) -> Path:
    """Writes out/<case_name>.npz: 'state_dict/<key>' (float32), 'input' (N, 3, H, W), 'model' (its name), and
    'output32/<head>', 'output64/<head>' for the heads 'logits' (and 'aux1', 'aux2' with GoogLeNet's aux heads)."""
    torch, tv_models = _import_torchvision()
    case = CASES[case_name]
    torch.manual_seed(seed)
    model = getattr(tv_models, case.model)(**case.options)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
                module.momentum = None  # running statistics = the average over the passes below
        model.train()
        for _ in range(2):  # statistics of the network's own activations keep deep models well-scaled
            model(torch.randn(4, 3, case.size, case.size))
        model.eval()
        x = torch.randn(case.batch, 3, case.size, case.size)
        arrays = {f"state_dict/{k}": v.numpy().copy() for k, v in model.state_dict().items()}
        arrays |= {f"output32/{k}": v for k, v in _torch_outputs(model, x).items()}
        arrays |= {f"output64/{k}": v for k, v in _torch_outputs(model.double(), x.double()).items()}
    path = out / f"{case_name}.npz"
    np.savez(path, input=x.numpy(), model=np.array(case.model), **arrays)
    return path


def _cnnjax_outputs(model, variables, x_nhwc: np.ndarray, heads: list[str]) -> dict[str, np.ndarray]:
    """Eval-mode logits, plus the GoogLeNet auxiliary `heads` applied to the features they read."""
    import jax

    from cnnjax.models.googlenet import InceptionAux

    sources = {AUX_SOURCES[head] for head in heads}

    def forward(variables, x):
        logits, state = model.apply(
            variables,
            x,
            train=False,
            mutable=["intermediates"],
            capture_intermediates=lambda module, method: module.name in sources and method == "__call__",
        )
        outputs = {"logits": logits}
        for head in heads:
            aux = InceptionAux(model.num_classes, model.layout)
            head_variables = {collection: tree[head] for collection, tree in variables.items()}
            outputs[head] = aux.apply(head_variables, state["intermediates"][AUX_SOURCES[head]]["__call__"][0])
        return outputs

    return {k: np.asarray(v) for k, v in jax.jit(forward)(variables, x_nhwc).items()}


def _relative_error(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(outputs[k] - ref)) / np.max(np.abs(ref))) for k, ref in reference.items())


def check(path: Path) -> Errors:
    """Converts the state dict in `path` and measures cnnjax's outputs against torchvision's."""
    import jax

    from cnnjax.convert import from_torchvision

    with np.load(path) as data:
        name = str(data["model"])
        state_dict = {k.removeprefix("state_dict/"): data[k] for k in data.files if k.startswith("state_dict/")}
        torch32, torch64 = (
            {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith(f"{prefix}/")}
            for prefix in ("output32", "output64")
        )
        x = data["input"].transpose(0, 2, 3, 1)
    model, variables = from_torchvision(name, state_dict)
    del state_dict
    heads = [head for head in torch32 if head != "logits"]
    ours32 = _cnnjax_outputs(model, variables, x, heads)
    with jax.enable_x64(True):
        variables = jax.tree.map(lambda v: np.asarray(v, np.float64), variables)
        ours64 = _cnnjax_outputs(model, variables, x.astype(np.float64), heads)
    return Errors(
        float64=_relative_error(ours64, torch64),
        float32=_relative_error(ours32, torch32),
        rounding=_relative_error(ours32, torch64),
        torch_rounding=_relative_error(torch32, torch64),
    )


def _report(name: str, errors: Errors, tolerance: float, seconds: float | None = None) -> bool:
    ok = errors.ok(tolerance)
    took = "" if seconds is None else f"  {seconds:4.0f} s"
    print(
        f"{name:14s} float64 {errors.float64:.1e}  float32 {errors.float32:.1e}  "
        f"f32 rounding {errors.rounding:.1e} (torch {errors.torch_rounding:.1e})  {'ok' if ok else 'FAIL'}{took}",
        flush=True,
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p_export = commands.add_parser("export", help="(torch env) write DIR/<case>.npz")
    p_export.add_argument("--out", type=Path, required=True)
    p_check = commands.add_parser("check", help="(cnnjax env) convert and compare every DIR/*.npz")
    p_check.add_argument("--dir", type=Path, required=True)
    p_run = commands.add_parser("run", help="(cnnjax env) export via --torch-python, then check, case by case")
    p_run.add_argument("--torch-python", type=Path, default=TORCH_PYTHON)
    for p in (p_export, p_run):
        p.add_argument(
            "--cases",
            nargs="+",
            choices=sorted(CASES),
            default=list(CASES),
            metavar="CASE",
            help=f"default: all of {', '.join(CASES)}",
        )
        p.add_argument("--seed", type=int, default=0)
    for p in (p_check, p_run):
        p.add_argument("--tolerance", type=float, default=TOLERANCE)
    args = parser.parse_args(argv)

    if args.command == "export":
        args.out.mkdir(parents=True, exist_ok=True)
        for name in args.cases:
            print(export(name, args.out, args.seed), flush=True)
        return 0
    if args.command == "check":
        paths = sorted(args.dir.glob("*.npz"))
        if not paths:
            raise SystemExit(f"--dir: no .npz files in {args.dir}")
        results = [_report(path.stem, check(path), args.tolerance) for path in paths]
        return 0 if all(results) else 1
    if not args.torch_python.exists():
        raise SystemExit(f"--torch-python: {args.torch_python} does not exist; create it as in this file's docstring")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            start = time.perf_counter()
            subprocess.run(
                [str(args.torch_python), __file__, "export", "--out", tmp, "--cases", name, "--seed", str(args.seed)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            path = Path(tmp) / f"{name}.npz"
            errors = check(path)
            path.unlink()
            results.append(_report(name, errors, args.tolerance, time.perf_counter() - start))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
