"""``OUT/train_log.jsonl``: one JSON object a line, every record carrying its ``step``.

Records: a training step (``epoch``, ``step``, ``loss``, ``lr``, ``seconds``) every
``log_every`` steps, and events (``"event"``: ``"epoch"``, ``"val"``, ``"resume"``). When a run
starts at step ``s`` (0 for a fresh one, the checkpoint's step when it resumes) the records
with a step beyond ``s`` are dropped first: they belong to an interrupted run whose work is
redone, so the log of a resumed run equals an uninterrupted run's, line for line but the
``seconds`` and the resume event.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["TrainLog", "read_log"]


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a training log (a missing file has none).

    Examples
    --------
    >>> read_log("/nonexistent/train_log.jsonl")
    []
    """
    p = Path(path)
    if not p.is_file():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


class TrainLog:
    """Append records to ``path`` (only when ``enabled``: rank 0).

    Examples
    --------
    >>> import tempfile
    >>> log = TrainLog(Path(tempfile.mkdtemp()) / "train_log.jsonl")
    >>> log.start(0); log.write({"step": 1, "loss": 0.5}); log.write({"step": 2, "loss": 0.4})
    >>> log.start(1); [r["step"] for r in read_log(log.path)]
    [1]
    """

    def __init__(self, path: str | Path, *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def start(self, step: int) -> None:
        """Drop the records after ``step`` (atomically), keeping the earlier ones."""
        if not self.enabled or not self.path.exists():
            return
        keep = [r for r in read_log(self.path) if int(r.get("step", 0)) <= step]
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
        os.replace(tmp, self.path)

    def write(self, rec: dict[str, Any]) -> None:
        """Append one record."""
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(rec) + "\n")
