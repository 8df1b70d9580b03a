"""JSON in and out of the run directory, for any text and any input.

* :func:`dumps` writes UTF-8 JSON for any string Python holds: non-ASCII text as it is, a
  lone surrogate (a file name that is not UTF-8, decoded with ``surrogateescape``, or a
  ``"\\ud800"`` read from a manifest) as its ``\\uXXXX`` escape, so the text reads back as
  the very same string; U+0085, U+2028 and U+2029 escaped too, so that no reader splitting
  lines on them breaks a record; NaN and infinities, which JSON lacks, as null.
* :func:`loads` turns everything Python's parser refuses (bad syntax, bytes that are not
  UTF-8, integers of more than 4300 digits, nesting deeper than the stack) into one
  ``ValueError`` naming what was read.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["dumps", "loads"]

# lone surrogates, and the characters Python's str.splitlines() (and JavaScript) take for a
# line break although JSON does not: escaped, one record stays one line for every reader
_ESCAPE = re.compile("[\ud800-\udfff\x85\u2028\u2029]")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """JSON text of ``obj`` that every UTF-8 reader takes and :func:`loads` reads back.

    Examples
    --------
    >>> text = dumps({"id": "q\\ud800", "query": "lac d'Annecy", "rmi": float("nan")})
    >>> text
    '{"id": "q\\\\ud800", "query": "lac d\\'Annecy", "rmi": null}'
    >>> loads(text, "row")["id"] == "q\\ud800"
    True
    """
    text = json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False, indent=indent)
    # these can only stand inside JSON strings, where their escape means the same text
    return _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def loads(data: str | bytes, what: str) -> Any:
    """Parse JSON text; any refusal is a ``ValueError`` whose message starts with ``what``.

    Examples
    --------
    >>> loads('{"a": [1, 2]}', "m.json")
    {'a': [1, 2]}
    >>> loads("[" * 100_000, "m.json")
    Traceback (most recent call last):
    ...
    ValueError: m.json: nested too deeply
    """
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ValueError(f"{what}: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or int()'s limit of 4300 digits
        if "digits" in str(exc):
            raise ValueError(f"{what}: a number of more than 4300 digits") from None
        raise ValueError(f"{what}: not valid JSON ({exc})") from None
