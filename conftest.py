"""pytest: never run stale machine code from numba's disk cache.

numba keys a cached kernel on its own source file only: an edit to a helper it inlines (say
``selo_metrics/_kernels/borders.py``) leaves the old machine code in use, and the tests green.
Here, before anything imports numba or the package (this root conftest loads before the
doctest modules of ``selo_metrics/`` are collected), ``NUMBA_CACHE_DIR`` is pointed at a
directory named after a hash of every source file that uses numba: any edit to any of them
starts from an empty cache. Subprocesses the tests start inherit it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def numba_sources_hash(root: Path = ROOT) -> str:
    """A hash of the path and text of every ``.py`` file under the packages that uses numba."""
    h = hashlib.sha256()
    for pkg in ("selo_metrics", "xemap"):
        for path in sorted((root / pkg).rglob("*.py")):
            text = path.read_bytes()
            if b"numba" in text:
                h.update(str(path.relative_to(root)).encode() + b"\0" + text + b"\0")
    return h.hexdigest()[:16]


def _test_cache_dir() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    base = os.path.join(tempfile.gettempdir(), f"selo_metrics-test-numba-{uid}")
    os.makedirs(base, mode=0o700, exist_ok=True)
    return os.path.join(base, numba_sources_hash())


os.environ["NUMBA_CACHE_DIR"] = _test_cache_dir()
if "numba" in sys.modules:  # already imported by a plugin: its config read the old value
    sys.modules["numba"].config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
