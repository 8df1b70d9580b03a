"""The run directory's files beside the journal: ``run.json``, ``summary.json`` and the lock.

Every problem with them is a :class:`~selo_metrics.RunDirError` that names the file: a run
directory that is a file, read-only or full, a ``run.json`` of other inputs or damaged, rows
that belong to another test set. Each check runs before anything is written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._json import dumps, loads
from .journal import RunDirError, read_regular_file, writing
from .samples import Sample

__all__ = ["check_rows", "check_run_json", "locked", "make_run_dir", "read_json",
           "write_json"]

_NEW_DIR = "use a new --out directory"


def make_run_dir(run_dir: Path) -> None:
    """Create ``run_dir`` (and its parents); refuse a path that is not a directory."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} is not a directory")
    with writing(run_dir, "create the run directory"):
        run_dir.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.lock`` (``flock``): a second run into the same directory is refused."""
    import fcntl

    with writing(run_dir / ".lock"):
        # O_NONBLOCK: a FIFO in its place fails at once instead of waiting for a reader
        fd = os.open(run_dir / ".lock", os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(f"another run is writing to {run_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_json(path: Path) -> Any:
    """The JSON value in ``path``; a :class:`RunDirError` when it cannot be read or parsed."""
    data = read_regular_file(path)
    try:
        return loads(data, str(path))
    except ValueError as exc:
        raise RunDirError(f"{exc}; the file is damaged") from None


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with writing(path):
        try:
            tmp.write_text(dumps(obj, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def check_run_json(run_dir: Path, settings: dict[str, Any]) -> None:
    """Refuse a run directory of other inputs; write ``run.json`` for a new one.

    A journal without ``run.json`` (deleted, say) is refused too: which test set its rows
    score cannot be told.
    """
    path = run_dir / "run.json"
    if os.path.lexists(path):
        old = read_json(path)
        if not isinstance(old, dict):
            raise RunDirError(f"{path} is damaged (a JSON {type(old).__name__}, not an "
                              f"object); {_NEW_DIR}")
        old = {"metrics": ["selo"], "rrsis_size": None, **old}  # runs before RRSIS
        for key in ("fingerprint", "convention", "params", "metrics", "rrsis_size"):
            if old.get(key) != settings[key]:
                names = old["metrics"]
                what = {"fingerprint": "a different test set (annotations or map names)",
                        "convention": f"convention {old.get('convention')!r}",
                        "params": f"parameters {old.get('params')}",
                        "metrics": "metrics " + (",".join(map(str, names))
                                                 if isinstance(names, list) else repr(names)),
                        "rrsis_size": f"--rrsis-size {old['rrsis_size']}"}[key]
                raise RunDirError(f"{run_dir} holds a run of {what}; resuming into it would "
                                  f"mix results. {_NEW_DIR.capitalize()}")
        return
    journal = run_dir / "samples.jsonl"
    if os.path.lexists(journal) and (not journal.is_file() or journal.stat().st_size):
        raise RunDirError(f"{run_dir} holds samples.jsonl but no run.json, so the test set "
                          f"its rows belong to cannot be checked; {_NEW_DIR} (or put its "
                          "run.json back)")
    write_json(path, settings)


def check_rows(rows: Sequence[dict[str, Any]], samples: Sequence[Sample], path: Path) -> None:
    """Refuse journal rows that are not the samples at their indices (id, query, map name).

    Map directories are not compared, so a moved maps folder still resumes.
    """
    for row in rows:
        index = row["index"]
        if index >= len(samples):
            raise RunDirError(f"{path} has a row of sample index {index}, but the test set has "
                              f"{len(samples)} samples: it belongs to another test set; "
                              f"{_NEW_DIR}")
        sample = samples[index]
        wrong = []
        if row["id"] != sample.id:
            wrong.append(f"id {row['id']!r} (the test set's is {sample.id!r})")
        if row.get("query") != sample.query:
            wrong.append(f"query {row.get('query')!r} (the test set's is {sample.query!r})")
        map_name = Path(str(row.get("map"))).name
        if map_name != Path(sample.map).name:
            wrong.append(f"map {map_name!r} (the test set's is {Path(sample.map).name!r})")
        if wrong:
            raise RunDirError(f"{path}: the row of sample index {index} has {'; '.join(wrong)}:"
                              f" it belongs to another test set; {_NEW_DIR}")
