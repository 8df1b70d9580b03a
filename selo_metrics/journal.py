"""``samples.jsonl``: the append-only journal of a run, safe against a kill at any moment.

Each finished sample is one JSON line, written with a single ``write`` on a file opened in
append mode and flushed at once, so a line is either whole on disk or, if the process was
killed inside that one system call, a torn last line. Opening the journal reads every whole
line, drops a torn last line (it is recomputed) and refuses a file whose damage is not at
its end. Nothing already written is ever rewritten.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .errors import SeLoInputError

__all__ = ["Journal", "RunDirError", "read_rows"]


class RunDirError(SeLoInputError):
    """A run directory that cannot be resumed (damaged journal, another run, other inputs)."""


def _clean(value: Any) -> Any:
    # JSON has no nan/inf: a non-finite number would make a line unreadable elsewhere
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_rows(path: Path) -> tuple[list[dict[str, Any]], int, bool]:
    """The whole rows of a journal file, without changing it.

    Returns the rows, the byte offset where the whole lines end, and whether a torn last
    line (bytes after the last newline) follows them.

    Raises
    ------
    RunDirError
        A line before the last one is not a JSON sample row.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # bytes after the last newline: b"" when the file ends whole
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RunDirError(
                f"{path}, line {lineno} is damaged and is not the last line; "
                "the journal was edited or written by something else: fix or remove "
                "that line by hand"
            ) from None
        if not isinstance(row, dict) or "index" not in row:
            raise RunDirError(f"{path}, line {lineno} is not a sample row")
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
    >>> with Journal(p) as j:
    ...     j.append({"index": 0, "id": "a", "rmi": 0.5})
    >>> _ = open(p, "a").write('{"index": 1, "id": "b", "rm')   # a kill mid-line
    >>> j = Journal(p)
    >>> [r["id"] for r in j.rows], j.dropped_torn_line
    (['a'], True)
    >>> j.close()
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.dropped_torn_line = False
        self.rows: list[dict[str, Any]] = []
        self._read_and_repair()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _read_and_repair(self) -> None:
        if not self.path.exists():
            return
        self.rows, good_end, torn = read_rows(self.path)
        if torn:
            # a line without its newline is the one a kill interrupted: drop it, even if
            # its bytes happen to parse, so that the row is written again whole
            self.dropped_torn_line = True
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())

    def append(self, row: dict[str, Any]) -> None:
        """Write one row as one line and flush it to the operating system."""
        line = json.dumps({k: _clean(v) for k, v in row.items()}, ensure_ascii=False,
                          allow_nan=False) + "\n"
        data = line.encode("utf-8")
        written = os.write(self._fd, data)
        while written < len(data):  # regular files: never in practice, but be complete
            written += os.write(self._fd, data[written:])
        self.rows.append(row)

    def latest(self) -> dict[int, dict[str, Any]]:
        """The last row of each sample index (a retried failure: its newest row)."""
        return {int(r["index"]): r for r in self.rows}

    def sync(self) -> None:
        """Flush the journal to the disk (``fsync``)."""
        os.fsync(self._fd)

    def close(self) -> None:
        """Sync and close the file."""
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
