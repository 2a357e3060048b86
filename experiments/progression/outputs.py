"""The study's committed files are inputs to check against: a command that recomputes one compares it with the file
in place and leaves an equal one as it is; one that differs is replaced only with --overwrite.

`check(path, text)` says what writing would do ('new', 'unchanged', 'replace'), raising `Differs` (naming the file
and the first difference) for a file that differs without `overwrite`; `write(path, text)` writes atomically.

A result that records the environment it was computed in (`"environment": cnnjax.environment.fingerprint()`) is
checked by `check_reproduction`: its numbers must be the same bits as the file's when the two environments agree in
every field that decides the bits (`cnnjax.environment.reproducibility_fields`); when they do not, or the file
records no environment, a difference is reported, not an error, and the file is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnjax import environment
from experiments.progression.paths import shown

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
    raise Differs(
        f"{path}: differs from the recomputed one ({difference}); it is kept: add --overwrite to replace "
        "it, or write elsewhere (--out-dir / --results-dir)"
    )


def _recorded_versions(recorded: dict[str, Any], fingerprint: dict[str, Any]) -> list[str]:
    """'package: recorded -> now' for each version a file without a fingerprint records ('versions') that differs
    from the fingerprint's."""
    versions = recorded.get("versions")
    versions = versions if isinstance(versions, dict) else {}
    return [
        f"{name}: {versions[name]} -> {now}"
        for name, now in fingerprint["versions"].items()
        if name in versions and versions[name] != now
    ]


def _unknown(name: str, recorded: dict[str, Any], computed: dict[str, Any]) -> str | None:
    """Why the two environments cannot be compared, None when they can."""
    if computed.get("environment_changes"):
        return (
            f"the recomputed result's workdir ran in more than one environment "
            f"({'; '.join(computed['environment_changes'])})"
        )
    if not isinstance(recorded.get("environment"), dict):
        versions = _recorded_versions(recorded, computed["environment"])
        return (
            f"{name} was recorded without a fingerprint (its CPU's ISA class and numerics profile are not known"
            + (f"; its recorded versions differ: {'; '.join(versions)}" if versions else "")
            + ")"
        )
    return None


def check_reproduction(
    path: Path, text: str, *, overwrite: bool, view: View, label: str, key: str | None = None
) -> tuple[bool, str | None]:
    """Compares a recomputed result (`text`, a JSON object with 'environment': its fingerprint, and
    'environment_changes' when its workdir ran in more than one environment) with the file in place; returns
    (write: whether to write `text` to `path`, line: what was found, for the log; None when there is no file or it
    is replaced).

    `view`: what of a result's text is compared (its numbers, not its timings or provenance); `label`: what the
    line is about ('hog_svm seed 0'); `key`: the number the line quotes from each side ('test_error').

    With the same reproducibility fields (`cnnjax.environment.reproducibility_differences`), equal views reproduce
    the file, which is kept; differing ones are an error (`Differs`), unless `overwrite`. With other fields, or
    environments that cannot be compared (a file recorded without a fingerprint), a difference is reported in the
    line, not raised, and the file is kept unless `overwrite` (which replaces any file whose view or
    reproducibility fields differ).
    """
    if not path.exists():
        return True, None
    name = shown(path)
    old, new = view(path.read_text()), view(text)
    recorded, computed = json.loads(path.read_text()), json.loads(text)
    recorded = recorded if isinstance(recorded, dict) else {}
    unknown = _unknown(name, recorded, computed)
    changed = (
        [] if unknown else environment.reproducibility_differences(recorded["environment"], computed["environment"])
    )
    same = json.dumps(old, sort_keys=True) == json.dumps(new, sort_keys=True)  # as text: NaN equals NaN
    if same and not unknown and not changed:
        return False, f"{label}: reproduces {name} bitwise{_quoted(old, key)}; left as it is"
    if overwrite:
        return True, None
    difference = first_difference(old, new)
    if not unknown and not changed:
        raise Differs(
            f"{path}: differs from the recomputed one ({difference}) under the same environment "
            "(cnnjax.environment.reproducibility_fields); it is kept: add --overwrite to replace it, or "
            "write elsewhere (--out-dir / --results-dir)"
        )
    why = unknown or f"{'; '.join(changed)} differs"
    if same:
        return False, f"{label}: reproduces {name}{_quoted(old, key)}, although {why}; left as it is"
    kept = "it" if name in why else name
    return False, (
        f"{label}: not comparable: {why}; {_both(old, new, key, difference)}; {kept} is kept as it is "
        "(--overwrite replaces it)"
    )


def _quoted(value: Any, key: str | None) -> str:
    return f" ({key} {value.get(key)})" if key is not None and isinstance(value, dict) else ""


def _both(old: Any, new: Any, key: str | None, difference: str | None) -> str:
    """Both sides' `key` and the first difference of their views, when it is in another field."""
    if key is None or not isinstance(old, dict) or not isinstance(new, dict):
        return f"first difference: {difference}"
    both = f"{key} {old.get(key)} in the file, {new.get(key)} recomputed"
    return both if old.get(key) != new.get(key) else f"{both}; first difference: {difference}"


def write(path: Path, text: str) -> None:
    """Writes atomically: a kill leaves the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
