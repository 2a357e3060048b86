"""The package root: lazy, so that each layer imports only the layers below it."""

import subprocess
import sys

import cnnjax


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_functional_imports_no_flax_and_no_model():
    modules = _imported_after("import cnnjax.functional")
    assert not {m for m in modules if m.split(".")[0] in ("flax", "orbax")}
    assert not {m for m in modules if m.startswith(("cnnjax.models", "cnnjax.nn", "cnnjax.summary", "cnnjax.train"))}


def test_summary_imports_no_model():
    modules = _imported_after("import cnnjax.summary")
    assert not {m for m in modules if m.startswith(("cnnjax.models", "cnnjax.train", "cnnjax.data"))}


def test_summary_is_callable_from_the_root():
    from cnnjax import models, summary

    assert cnnjax.summary(models.create("lenet5"), (28, 28, 1)).params == 61_706
    assert summary.summary(models.create("lenet5"), (28, 28, 1)).params == 61_706  # the module and its function
