"""Training checkpoints: atomic folders, the latest one, pruning, RNG state.

A checkpoint is a folder ``OUT/checkpoints/NAME`` holding ``model/`` (``save_pretrained``),
``state.pt`` (optimizer, grad scaler, RNG states, the training config) and ``meta.json``
(``epoch``, ``step``, ``epoch_step``: batches done in that epoch, ``epoch_complete``).
``NAME`` is ``epoch_{n}`` at the end of epoch ``n`` and ``step_{n}`` for one written inside an
epoch (``checkpoint_every``, or a run stopped by ``max_steps``). Each is written into a
temporary folder and renamed, so a kill never leaves half a checkpoint; leftovers of a killed
write start with a dot and are swept by `clean_partial`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_dir",
    "checkpoint_meta",
    "clean_partial",
    "latest_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]

CHECKPOINTS = "checkpoints"
STATE = "state.pt"
META = "meta.json"


def atomic_dir(final: Path, write: Callable[[Path], Any]) -> None:
    """Write a folder through ``write(tmp)`` then rename it to ``final`` (replacing it).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "x"
    >>> atomic_dir(d, lambda t: (t.mkdir(), (t / "a").write_text("1")))
    >>> sorted(p.name for p in d.iterdir())
    ['a']
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp_{final.name}_{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    write(tmp)
    if final.exists():
        old = final.parent / f".old_{final.name}_{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def checkpoint_meta(path: str | Path) -> dict[str, Any] | None:
    """A complete checkpoint's ``meta.json`` (plus ``path``), or None if it is not one.

    Checkpoints of older versions (no ``meta.json``) are read from ``state.pt``.
    """
    p = Path(path)
    if not (p.is_dir() and (p / STATE).is_file() and (p / "model").is_dir()):
        return None
    if (p / META).is_file():
        try:
            meta = json.loads((p / META).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
    else:  # a checkpoint written before meta.json existed
        import torch

        st = torch.load(p / STATE, map_location="cpu", weights_only=False)
        complete = bool(st.get("complete", True))
        meta = {"epoch": int(st["epoch"]), "step": int(st["step"]), "epoch_complete": complete}
        meta["epoch_step"] = None
    return {**meta, "path": p}


def list_checkpoints(out: str | Path) -> list[dict[str, Any]]:
    """The complete checkpoints of a training folder, oldest (fewest steps) first.

    Examples
    --------
    >>> import tempfile
    >>> list_checkpoints(tempfile.mkdtemp())
    []
    """
    d = Path(out) / CHECKPOINTS
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        if p.name.startswith((".", "_")):
            continue
        meta = checkpoint_meta(p)
        if meta is not None:
            found.append(meta)
    # at the same step an epoch-end checkpoint sorts last (it is the one to resume from)
    return sorted(found, key=lambda m: (m["step"], m["epoch"], bool(m.get("epoch_complete"))))


def latest_checkpoint(out: str | Path) -> Path | None:
    """The checkpoint folder with the most steps in ``OUT/checkpoints``, or None.

    Examples
    --------
    >>> import tempfile
    >>> latest_checkpoint(tempfile.mkdtemp()) is None
    True
    """
    found = list_checkpoints(out)
    return found[-1]["path"] if found else None


def clean_partial(out: str | Path) -> None:
    """Remove the temporary folders a killed checkpoint write left in ``OUT/checkpoints``."""
    d = Path(out) / CHECKPOINTS
    if d.is_dir():
        for p in d.iterdir():
            if p.name.startswith((".tmp_", ".old_")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def save_checkpoint(
    out: str | Path, model: Any, state: dict[str, Any], meta: dict[str, Any]
) -> Path:
    """Write ``model``, ``state`` and ``meta`` as one checkpoint folder, atomically.

    The folder is ``epoch_{epoch}`` when ``meta["epoch_complete"]``, else ``step_{step}``.
    """
    import torch

    name = f"epoch_{meta['epoch']}" if meta.get("epoch_complete") else f"step_{meta['step']}"
    final = Path(out) / CHECKPOINTS / name

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp / "model")
        torch.save(state, tmp / STATE)
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")

    atomic_dir(final, write)
    return final


def prune_checkpoints(out: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints of ``OUT/checkpoints``."""
    for meta in list_checkpoints(out)[:-keep]:
        shutil.rmtree(meta["path"], ignore_errors=True)


def rng_state() -> dict[str, Any]:
    """The Python, numpy (legacy global), torch and CUDA random states."""
    import torch

    st = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - the legacy global state is saved
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict[str, Any]) -> None:
    """Restore what `rng_state` saved.

    Examples
    --------
    >>> import torch
    >>> st = rng_state(); a = torch.rand(2)
    >>> set_rng_state(st); bool((torch.rand(2) == a).all())
    True
    """
    import torch

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])  # noqa: NPY002
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
