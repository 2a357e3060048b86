"""The package's layers: each module imports only from its own layer or the ones below it, and the trainer's helpers
are leaves that never import the trainer (so following a config from `train_and_evaluate` never climbs back up)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnjax"
# Lowest first; a module may import its own layer and those before it.
LAYERS = (
    ("backend", "environment", "logs"),
    ("functional",),
    ("nn",),
    ("models",),
    ("summary", "convert", "data", "parallel"),
    ("train",),
    ("viz", "repro"),
    ("cli",),
)
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}
TRAINER_LEAVES = ("checkpoint", "metrics", "workdir", "rng", "state", "plan", "preprocess", "optim", "tasks")


def _part(module: Path) -> str:
    return module.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(module: Path) -> set[str]:
    """The cnnjax modules `module` imports, as dotted names ('cnnjax.train.step', ...)."""
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("cnnjax.")}


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_its_layer_and_those_below(module):
    own = LAYER_OF[_part(module)]
    above = {name for name in _imports(module) if LAYER_OF.get(name.split(".")[1], -1) > own}
    assert not above, f"{module.relative_to(PACKAGE)} imports from a higher layer: {sorted(above)}"


@pytest.mark.parametrize("leaf", TRAINER_LEAVES)
def test_the_trainers_helpers_never_import_the_trainer_or_the_step(leaf):
    modules = {p.stem for p in (PACKAGE / "train").iterdir()}  # files and packages of cnnjax.train
    imported = [
        name.split(".")[2] for name in _imports(PACKAGE / "train" / f"{leaf}.py") if name.startswith("cnnjax.train.")
    ]
    # a name that is no module of cnnjax.train comes from its __init__, which imports the trainer
    assert not [name for name in imported if name in ("trainer", "step") or name not in modules], imported
