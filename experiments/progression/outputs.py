"""The study's committed files are inputs to check against: a command that recomputes one compares it with the file
in place and leaves an equal one as it is; one that differs is replaced only with --overwrite.

`check(path, text)` says what writing would do ('new', 'unchanged', 'replace'), raising `Differs` (naming the file
and the first difference) for a file that differs without `overwrite`; `write(path, text)` writes atomically.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

View = Callable[[str], Any]  # what of a file's text is compared (default: all of it)


class Differs(ValueError):
    """A recomputed output differs from the file in place, which is kept (replace it with --overwrite)."""


def json_view(keys: tuple[str, ...] | None = None) -> View:
    """Compares files as JSON (formatting aside); with `keys`, only those keys of the top-level object."""

    def view(text: str) -> Any:
        value = json.loads(text)
        return value if keys is None else {k: value.get(k) for k in keys}

    return view


def first_difference(old: Any, new: Any, where: str = "") -> str | None:
    """Where two JSON values (or texts) first differ, in words; None when equal."""
    if old == new:
        return None
    if isinstance(old, str) and isinstance(new, str) and "\n" in old + new:
        for number, (a, b) in enumerate(zip([*old.splitlines(), ""], [*new.splitlines(), ""], strict=False), 1):
            if a != b:
                return f"line {number}: {a!r} in the file, {b!r} recomputed"
        return "the line endings"
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            found = first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
            if found:
                return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = first_difference(a, b, f"{where}[{i}]")
            if found:
                return found
    return f"{where or 'the value'}: {old!r} in the file, {new!r} recomputed"


def check(path: Path, text: str, *, overwrite: bool, view: View = str) -> str:
    """'new' (no file), 'unchanged' (`view` of the file equals that of `text`), or 'replace' (it differs and
    `overwrite` is set).

    Raises:
      Differs: the file differs and `overwrite` is not set; the message names it and the first difference.
    """
    if not path.exists():
        return "new"
    difference = first_difference(view(path.read_text()), view(text))
    if difference is None:
        return "unchanged"
    if overwrite:
        return "replace"
    raise Differs(f"{path}: differs from the recomputed one ({difference}); it is kept: add --overwrite to replace "
                  "it, or write elsewhere (--out-dir / --results-dir)")


def write(path: Path, text: str) -> None:
    """Writes atomically: a kill leaves the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
