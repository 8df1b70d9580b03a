"""``samples.jsonl``: the append-only journal of a run, safe against a kill at any moment.

Each finished sample is one JSON line, written with a single ``write`` on a file opened in
append mode and flushed at once, so a line is either whole on disk or, if the process was
killed inside that one system call, a torn last line. Opening the journal reads every whole
line, drops a torn last line (it is recomputed) and refuses a file whose damage is not at
its end, or a line that is not a sample row. Nothing already written is ever rewritten.

Every text goes in as it is: a lone surrogate (a file name that is not UTF-8, decoded by
Python with ``surrogateescape``, or a ``"\\ud800"`` in a manifest) is written as its JSON
escape, so the line stays UTF-8 and reads back as the same string.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ._json import dumps, loads
from .errors import SeLoInputError

__all__ = ["Journal", "RunDirError", "read_regular_file", "read_rows", "row_problem",
           "writing"]

#: the columns of a scored row, by metric family (SeLo, RRSIS)
_FAMILIES = (("rsu", "ras", "rda", "rmi"), ("iou", "inter", "union"))


class RunDirError(SeLoInputError):
    """A run directory that cannot be used: damaged or other inputs' files, another run
    writing into it, or a file system that refuses the writes (read-only, full)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def row_problem(row: Any) -> str | None:
    """What makes ``row`` no sample row (None for a row)."""
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    index = row.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return f"'index' is {index!r}, not a sample's position (an integer >= 0)"
    if not isinstance(row.get("id"), str):
        return f"'id' is {row.get('id')!r}, not a string"
    error = row.get("error")
    if error is not None and not (isinstance(error, dict) and isinstance(error.get("type"), str)
                                  and isinstance(error.get("message"), str)):
        return f"'error' is {error!r}, not {{'type': ..., 'message': ...}}"
    if error is None:
        families = [keys for keys in _FAMILIES if any(k in row for k in keys)]
        if not families:
            return "it holds neither metrics nor an 'error'"
        for key in (k for keys in families for k in keys):
            if not _is_number(row.get(key)):
                return f"{key!r} is {row.get(key)!r}, not a number (and no 'error')"
    return None


def read_regular_file(path: Path) -> bytes:
    """The bytes of a run directory's file; a :class:`RunDirError` for anything else (a
    directory, a FIFO that would block, a dangling link, no permission)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise RunDirError(f"{path} is not a regular file")
        return path.read_bytes()
    except OSError as exc:
        raise RunDirError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_rows(path: Path) -> tuple[list[dict[str, Any]], int, bool]:
    """The whole rows of a journal file, without changing it.

    Returns the rows, the byte offset where the whole lines end, and whether a torn last
    line (bytes after the last newline) follows them.

    Raises
    ------
    RunDirError
        The file cannot be read, or a whole line is not a JSON sample row.
    """
    data = read_regular_file(path)
    lines = data.split(b"\n")
    tail = lines.pop()  # bytes after the last newline: b"" when the file ends whole
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = loads(line, f"line {lineno}")
        except ValueError as exc:
            raise RunDirError(
                f"{path}: {exc}; only a torn last line (no newline, as a kill leaves it) is "
                "dropped and scored again: this line was edited or written by something "
                "else: fix or remove it by hand"
            ) from None
        problem = row_problem(row)
        if problem is not None:
            raise RunDirError(f"{path}, line {lineno} is not a sample row: {problem}; "
                              "fix or remove that line by hand")
        rows.append(row)
    return rows, len(data) - len(tail), bool(tail.strip())


class Journal:
    """The ``samples.jsonl`` of a run directory.

    Parameters
    ----------
    path : str or path-like
        The journal file; created when missing.

    Attributes
    ----------
    rows : list of dict
        Every whole row on disk, in file order.
    dropped_torn_line : bool
        Whether opening it dropped a torn last line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "samples.jsonl"
    >>> row = {"index": 0, "id": "a", "rsu": 0.9, "ras": 0.1, "rda": 0.8, "rmi": 0.86}
    >>> with Journal(p) as j:
    ...     j.append(row)
    >>> _ = open(p, "a").write('{"index": 1, "id": "b", "rm')   # a kill mid-line
    >>> j = Journal(p)
    >>> [r["id"] for r in j.rows], j.dropped_torn_line
    (['a'], True)
    >>> j.close()
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd = -1
        self.dropped_torn_line = False
        self.rows: list[dict[str, Any]] = []
        self._read_and_repair()
        with self._writing():
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _read_and_repair(self) -> None:
        if not os.path.lexists(self.path):
            return
        self.rows, good_end, torn = read_rows(self.path)
        if torn:
            # a line without its newline is the one a kill interrupted: drop it, even if
            # its bytes happen to parse, so that the row is written again whole
            self.dropped_torn_line = True
            with self._writing(), open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())

    def _writing(self) -> Any:
        return writing(self.path)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row as one line and flush it to the operating system.

        The row kept in :attr:`rows` is the one read back from that line, exactly what a
        resumed run will read.

        Raises
        ------
        RunDirError
            The write failed (a full disk, say); the row is not recorded.
        """
        line = dumps(row) + "\n"
        data = line.encode("utf-8")
        with self._writing():
            written = os.write(self._fd, data)
            while written < len(data):  # regular files: never in practice, but be complete
                written += os.write(self._fd, data[written:])
        self.rows.append(json.loads(line))

    def latest(self) -> dict[int, dict[str, Any]]:
        """The last row of each sample index (a retried failure: its newest row)."""
        return {int(r["index"]): r for r in self.rows}

    def sync(self) -> None:
        """Flush the journal to the disk (``fsync``)."""
        os.fsync(self._fd)

    def close(self) -> None:
        """Sync and close the file."""
        if self._fd >= 0:
            try:
                with self._writing():
                    self.sync()
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self.close()
        except RunDirError:
            if exc_type is None:  # else the first problem is the one to report
                raise


class writing:
    """Turn an ``OSError`` of a run directory's file into a :class:`RunDirError` naming it.

    Examples
    --------
    >>> import errno
    >>> with writing("runs/a/samples.jsonl"):
    ...     raise OSError(errno.ENOSPC, "No space left on device")
    Traceback (most recent call last):
    ...
    selo_metrics.journal.RunDirError: cannot write runs/a/samples.jsonl: No space left on ...
    """

    def __init__(self, path: str | os.PathLike, verb: str = "write"):
        self.path, self.verb = path, verb

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is not None and issubclass(exc_type, OSError):
            what = f"cannot {self.verb} {os.fsdecode(self.path)}: {exc.strerror or exc}"
            raise RunDirError(f"{what}. Every row written before is kept: fix this, then "
                              "re-run the same command to resume") from None
        return False
