"""Where numba keeps the kernels' machine code, chosen once at import; never fails an import.

numba caches a ``cache=True`` kernel next to its source (``__pycache__``), else in the user's
cache directory (``~/.cache/numba``), and raises ``cannot cache function ...: no locator
available`` at import when neither is writable: a root-owned install run by another user whose
``$HOME`` is read-only (a Docker image, a cluster module). In that case this module points
``numba.config.CACHE_DIR`` at a private directory of the current user (under
``$XDG_CACHE_HOME`` or ``~/.cache``, else the temporary directory); if nothing is writable,
:data:`CACHE` is ``False`` and the kernels compile in every process (a few seconds) instead of
failing. A ``NUMBA_CACHE_DIR`` set by the user is kept when it is writable.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import numba

__all__ = ["CACHE", "cache_location", "choose_cache_dir"]

#: the directories of this install whose modules hold ``cache=True`` kernels
_KERNEL_DIRS = ("selo_metrics/_kernels", "selo_metrics/data", "xemap/baselines")


def _writable(path: Path) -> bool:
    """Whether files can be created in ``path`` (made if missing), as numba checks it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _private(path: Path) -> bool:
    """A directory of ours that no other user can write (so no one can plant machine code)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False
    return not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and _writable(path)


def _user_candidates() -> list[Path]:
    out = []
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        out.append(Path(xdg) / "selo_metrics" / "numba")
    home = Path(os.path.expanduser("~"))
    if str(home) != "~":
        out.append(home / ".cache" / "selo_metrics" / "numba")
    try:
        tmp = Path(tempfile.gettempdir())
    except (OSError, FileNotFoundError):
        return out
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    out.append(tmp / f"selo_metrics-numba-{uid}")
    return out


def choose_cache_dir(install_root: Path, user_dir: str = "") -> tuple[bool, str]:
    """``(cache, cache_dir)``: whether to cache, and the ``CACHE_DIR`` numba should use.

    ``cache_dir`` is ``user_dir`` (``NUMBA_CACHE_DIR``) when it is writable, ``""`` (numba's
    own choice, next to the sources) when every kernel directory of ``install_root`` is, else
    a private per-user directory; ``(False, "")`` when nothing is writable.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> choose_cache_dir(Path(d), user_dir=d) == (True, d)
    True
    """
    if user_dir and _writable(Path(user_dir)):
        return True, user_dir
    dirs = [install_root / d for d in _KERNEL_DIRS if (install_root / d).is_dir()]
    if dirs and all(_writable(d / "__pycache__") for d in dirs):
        return True, ""
    for candidate in _user_candidates():
        if _private(candidate):
            return True, str(candidate)
    return False, ""


def _configure() -> bool:
    cache, cache_dir = choose_cache_dir(
        Path(__file__).resolve().parents[2], str(numba.config.CACHE_DIR or "")
    )
    if cache_dir != (numba.config.CACHE_DIR or ""):
        numba.config.CACHE_DIR = cache_dir
    return cache


#: whether the kernels are compiled with ``cache=True``
CACHE: bool = _configure()


def cache_location() -> str:
    """Where the kernels' machine code is cached: a directory, ``"next to the sources"`` or
    ``"nowhere"``.

    Examples
    --------
    >>> isinstance(cache_location(), str)
    True
    """
    if not CACHE:
        return "nowhere"
    return numba.config.CACHE_DIR or "next to the sources"
