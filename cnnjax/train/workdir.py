"""The run's workdir: created only when needed (and removed again if the run fails before writing anything),
held by one run at a time, and the command that resumes a run in it.

    with open_workdir("runs/x", main=jax.process_index() == 0) as workdir:
        ...  # train; a second run on runs/x refuses at once, naming this one

The lock is an exclusive `flock` on `workdir/.lock`, so the kernel releases it when the holder dies, even by
kill -9. The file records the holder (pid, host, start time, command) for the message a second run prints. A
file left by a dead holder is taken over with a message; as a second guard (a filesystem whose flock does not
work), the recorded holder is checked on its host too: the pid must be alive and be the same process (its start
time in /proc/<pid>/stat equal to the recorded one, so a reused pid does not count). One lock per run: in a
multi-process run only process 0 takes it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


class WorkdirInUse(ValueError):
    """Another run holds the workdir; the message names it (pid, host, start time, command)."""


def prepare_workdir(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """Creates `path` (with its parents) if it does not exist and checks that this process can write there.

    Returns:
      (the absolute workdir, the topmost folder this call created or None), for `remove_if_unused`.

    Raises:
      ValueError: the workdir cannot be created or written (names it and the OS error).
    """
    workdir = Path(path).absolute()
    created = None
    for folder in (workdir, *workdir.parents):
        if folder.exists():
            break
        created = folder
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".write_test_{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"workdir: expected a writable directory, got {str(path)!r} ({e})") from None
    return workdir, created


def remove_if_unused(workdir: Path, created: Path | None) -> None:
    """Removes the folders `prepare_workdir` created (`workdir` up to `created`) if nothing but the lock file
    was written in them."""
    if created is None or any(p.name != LOCK_FILE for p in workdir.iterdir()):
        return
    (workdir / LOCK_FILE).unlink(missing_ok=True)
    for folder in (workdir, *workdir.parents):
        with contextlib.suppress(OSError):  # not empty: something else lives there
            folder.rmdir()
        if folder == created:
            break


@contextlib.contextmanager
def open_workdir(
    path: str | os.PathLike, *, main: bool = True, report: Callable[[str], None] | None = None
) -> Iterator[Path]:
    """`prepare_workdir`, then `workdir_lock` (process 0 only, `main`) for the body; if the body raises and
    this call created the workdir, it is removed again unless something was written in it."""
    workdir, created = prepare_workdir(path)
    try:
        with workdir_lock(workdir, enabled=main, report=report):
            yield workdir
    except BaseException:
        if main:
            remove_if_unused(workdir, created)
        raise


@contextlib.contextmanager
def workdir_lock(
    workdir: str | os.PathLike, *, enabled: bool = True, report: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Holds `workdir` for this process for the duration of the block.

    Args:
      workdir: an existing directory.
      enabled: False: do nothing (the processes other than 0 of a multi-process run).
      report: where the message about a stale lock taken over goes (default: stderr).

    Raises:
      WorkdirInUse: another live process holds it; raised at once, naming it.
    """
    if not enabled:
        yield
        return
    report = report or (lambda text: print(text, file=sys.stderr, flush=True))
    path = Path(workdir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkdirInUse(_in_use(workdir, _read_owner(fd))) from None
        except OSError as e:  # no flock on this filesystem: the recorded holder is all there is to go by
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
        owner, me = _read_owner(fd), _this_process()
        if owner and not _same_process(owner, me):
            running = _is_running(owner)
            if running:
                raise WorkdirInUse(_in_use(workdir, owner))
            why = "is no longer running" if running is False else "no longer holds it"
            report(f"workdir {workdir}: taking over the stale lock of {_describe(owner)}, which {why}")
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        os.fsync(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # released: the next run finds no holder to report
    finally:
        os.close(fd)  # releases the flock


def resume_command(argv: Sequence[str], workdir: str | os.PathLike, program: str = "cnnjax") -> str:
    """The shell command that resumes a run: `program` and `argv` (the arguments after the program name) with
    `--workdir workdir` in place of any --workdir there, quoted for a POSIX shell."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workdir":
            skip = True
        elif not arg.startswith("--workdir="):
            kept.append(arg)
    return shlex.join([program, *kept, "--workdir", str(workdir)])


# ---------------------------------------------------------------------------------------------------- helpers
def _this_process() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "start_time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "process_start": _process_start(os.getpid()),
        "command": sys.argv,
    }


def _process_start(pid: int) -> int | None:
    """The start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22); None if there is
    no such process (or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # the name, in parentheses, may hold spaces


def _is_running(owner: dict[str, Any]) -> bool | None:
    """Whether the recorded holder still runs: None when that cannot be told here (another host)."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return None
    start = _process_start(owner["pid"])
    if start is None:
        if Path("/proc").is_dir():
            return False
        try:  # no /proc (macOS): whether the pid exists is all there is
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    return owner.get("process_start") in (None, start)  # another start time: the pid was reused


def _same_process(owner: dict[str, Any], me: dict[str, Any]) -> bool:
    return all(owner.get(k) == me[k] for k in ("pid", "host", "process_start"))


def _read_owner(fd: int) -> dict[str, Any]:
    text = os.pread(fd, 65536, 0).decode(errors="replace").strip()
    try:
        owner = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {"unparsed": text[:200]}
    return owner if isinstance(owner, dict) else {"unparsed": text[:200]}


def _describe(owner: dict[str, Any]) -> str:
    if "pid" not in owner:
        return f"an unknown process (lock file content {owner.get('unparsed', '')!r})"
    command = " ".join(owner.get("command") or [])
    return f"pid {owner['pid']} on host {owner.get('host', '?')}, started {owner.get('start_time', '?')}" + (
        f" ({command})" if command else ""
    )


def _in_use(workdir: str | os.PathLike, owner: dict[str, Any]) -> str:
    holder = _describe(owner) if owner else "another process (which has not yet recorded its pid)"
    return (
        f"workdir: {workdir} is in use by another run: {holder}. Wait for it to finish, or use another workdir "
        f"(if that process is gone for good, delete {Path(workdir) / LOCK_FILE})."
    )
