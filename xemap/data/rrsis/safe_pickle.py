"""Read a pickle that may hold plain containers only, refusing anything that could run code.

The REFER annotation file of RRSIS-D (``refs(unc).p``) is a pickle. ``pickle.load`` on a
file from the internet can run arbitrary code: the ``GLOBAL`` / ``STACK_GLOBAL`` opcodes
import any callable and ``REDUCE`` / ``BUILD`` / ``INST`` / ``OBJ`` / ``NEWOBJ`` call it.

:func:`load_plain_pickle` first walks the opcode stream with :func:`pickletools.genops`,
which only parses (nothing is built, imported or called), and refuses the file unless every
opcode is on an allowlist: the ones that push ``None``, ``bool``, ``int``, ``float``,
``str``, build ``list`` / ``tuple`` / ``dict``, and the stack, memo and framing opcodes.
Only then is it loaded, by an unpickler whose ``find_class`` and ``persistent_load`` refuse
too (a second line, never reached by an allowed stream).
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from pathlib import Path
from typing import Any

from .common import DatasetError

__all__ = ["ALLOWED_OPCODES", "UnsafePickleError", "load_plain_pickle"]

#: opcodes that build plain data only (None, bool, int, float, str, list, tuple, dict)
ALLOWED_OPCODES = frozenset({
    # framing, stack and memo
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
    # scalars
    "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2",
    "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    # text (Python 2 byte strings are decoded as UTF-8)
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
    "SHORT_BINUNICODE", "BINUNICODE8",
    # containers
    "EMPTY_LIST", "APPEND", "APPENDS", "LIST",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS",
})  # fmt: skip

_WHY = {
    "GLOBAL": "imports a module attribute (a class or function)",
    "STACK_GLOBAL": "imports a module attribute (a class or function)",
    "INST": "imports a class and calls it",
    "OBJ": "calls a class",
    "NEWOBJ": "calls cls.__new__",
    "NEWOBJ_EX": "calls cls.__new__",
    "REDUCE": "calls a callable",
    "BUILD": "calls __setstate__ or sets attributes",
    "EXT1": "imports a registered extension (a class or function)",
    "EXT2": "imports a registered extension (a class or function)",
    "EXT4": "imports a registered extension (a class or function)",
    "PERSID": "asks for a persistent object",
    "BINPERSID": "asks for a persistent object",
}


class UnsafePickleError(DatasetError):
    """A pickle that holds more than plain containers (or is not a pickle); never loaded."""


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to import {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused a persistent id")


def load_plain_pickle(source: str | os.PathLike | bytes) -> Any:
    """Load a pickle of plain containers (dict, list, tuple, str, int, float, bool, None).

    Parameters
    ----------
    source : path or bytes
        The pickle file, or its bytes.

    Returns
    -------
    object
        The unpickled value.

    Raises
    ------
    UnsafePickleError
        The stream holds an opcode that is not on :data:`ALLOWED_OPCODES` (named in the
        message with its byte offset and, for ``GLOBAL``, what it would import), or it is
        not a valid pickle. Nothing of it was run.
    DatasetError
        The file cannot be read.

    Examples
    --------
    >>> import pickle
    >>> load_plain_pickle(pickle.dumps([{"ref_id": 1, "sentences": [{"raw": "a car"}]}]))
    [{'ref_id': 1, 'sentences': [{'raw': 'a car'}]}]
    >>> load_plain_pickle(pickle.dumps(print))
    Traceback (most recent call last):
    ...
    xemap.data.rrsis.safe_pickle.UnsafePickleError: pickle refused, nothing of it was run: ...
    """
    if isinstance(source, bytes | bytearray):
        data, name = bytes(source), "pickle"
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise DatasetError(f"cannot read {source}: {exc.strerror or exc}") from None
        name = str(source)
    try:
        for op, arg, pos in pickletools.genops(data):
            if op.name not in ALLOWED_OPCODES:
                what = f" {arg!r}" if op.name == "GLOBAL" else ""
                why = _WHY.get(op.name, "not a plain container")
                raise UnsafePickleError(
                    f"pickle refused, nothing of it was run: {name}: opcode {op.name}{what} at "
                    f"byte {pos} {why}; only dict, list, tuple, str, int, float, bool and None "
                    "are read"
                )
    except UnsafePickleError:
        raise
    except Exception as exc:  # genops: ValueError / EOF on a corrupt or truncated stream
        raise UnsafePickleError(f"{name} is not a valid pickle ({exc})") from None
    try:
        return _PlainUnpickler(io.BytesIO(data), encoding="utf-8").load()
    except Exception as exc:  # a malformed but allowed stream (stack underflow, bad UTF-8)
        raise UnsafePickleError(f"{name} is not a valid pickle ({exc})") from None
