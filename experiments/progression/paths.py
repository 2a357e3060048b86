"""Where the study's files are, whatever the working directory: the committed results beside this package, the
run directories under the repository's runs/progression/ (ignored by git), the rows' config files by their paths
from the repository root. Result files record paths from the repository root, so they read the same on every
machine."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]
RESULTS_DIR = PACKAGE_DIR / "results"
WORKDIR_ROOT = REPO_ROOT / "runs" / "progression"


def in_repo(path: str | os.PathLike) -> Path:
    """`path`, a relative one taken from the repository root (as the rows name their config files)."""
    return REPO_ROOT / path


def shown(path: str | os.PathLike) -> str:
    """`path` as result files record it: from the repository root when inside it, else absolute."""
    path = Path(path).absolute()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
