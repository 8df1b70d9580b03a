"""The two conventions: ``"slm"`` (the official code, default) and ``"paper"`` (the equations).

Every constant is a field; ``evaluate(..., **params)`` overrides any of them by name.

========================  ==============================  ===========  ===========
parameter                 official attribute (``SLM``)    ``"slm"``    ``"paper"``
========================  ==============================  ===========  ===========
``rsu_alpha``             ``rsu_beta``                    0.707        0.694
``rsu_eps``               ``rsu_eps``                     1e-7         1e-7
``expand_factor``         ``ras_expand_factor``           1.5          1.5
``box_passes``            ``ras_filter_times``            5            5
``box_size``              (``boxFilter`` ksize)           50           50
``max_window``            (``maximum_filter`` size)       1000         1000
``threshold``             (centre filter)                 0.5          0.5
``ras_beta``              ``ras_scala_beta``              3            3
``rda_eta``               ``rda_eta``                     0.5          0.5
``w_su``                  ``rmi_wsu``                     0.4          0.4
``w_as``                  ``rmi_was``                     0.35         0.35
``w_da``                  ``rmi_wda``                     0.25         0.25
========================  ==============================  ===========  ===========

Besides the constants, ``"paper"`` differs in three rules: Rda for K >= 2 is
``((1 - d) + exp(-eta (K + 2))) / 2`` (the code halves only the first term); nothing is
truncated to int (GT centres, radii, attention centroids); and the GT mask is the union of
the polygons (overlaps are not holes), pixel ``(x, y)`` inside or on a boundary.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import SeLoInputError

__all__ = ["CONVENTIONS", "Convention", "resolve_convention"]


@dataclass(frozen=True)
class Convention:
    """One full parameter set of the SeLo metrics.

    Examples
    --------
    >>> CONVENTIONS["paper"].rsu_alpha
    0.694
    >>> resolve_convention("slm", box_passes=3).box_passes
    3
    """

    name: str
    rsu_alpha: float = 0.707
    rsu_eps: float = 1e-7
    expand_factor: float = 1.5
    box_size: int = 50
    box_passes: int = 5
    max_window: int = 1000
    threshold: float = 0.5
    ras_beta: float = 3.0
    rda_eta: float = 0.5
    w_su: float = 0.4
    w_as: float = 0.35
    w_da: float = 0.25
    #: truncate GT centres, radii and attention centroids to int (the official code)
    integer_geometry: bool = True
    #: Rda for K >= 2: halve both terms (paper) instead of only the first (code)
    rda_halve_all: bool = False
    #: GT mask: "cv2" (one even-odd OpenCV fill of all polygons) or "union"
    gt_fill: str = "cv2"


CONVENTIONS: dict[str, Convention] = {
    "slm": Convention("slm"),
    "paper": Convention(
        "paper", rsu_alpha=0.694, integer_geometry=False, rda_halve_all=True, gt_fill="union"
    ),
}

_FIELDS = {f.name for f in dataclasses.fields(Convention)} - {"name"}


def resolve_convention(convention: str | Convention = "slm", **params: Any) -> Convention:
    """The convention named (or given), with ``params`` overriding its constants.

    Every parameter is checked against its valid range (``docs/metrics.md``, "Parameters")
    and stored as a plain ``float`` / ``int`` / ``bool``.

    Raises
    ------
    SeLoInputError
        Unknown convention or parameter name, a parameter of the wrong type or out of its
        range.

    Examples
    --------
    >>> resolve_convention("slm", box_size=0)
    Traceback (most recent call last):
    ...
    selo_metrics.errors.SeLoInputError: box_size must be in [1, 257], got 0
    >>> resolve_convention("slm", rsu_eps=0)
    Traceback (most recent call last):
    ...
    selo_metrics.errors.SeLoInputError: rsu_eps must be in (0, inf), got 0.0
    """
    if isinstance(convention, Convention):
        base = convention
    else:
        try:
            base = CONVENTIONS[convention]
        except (KeyError, TypeError):
            raise SeLoInputError(
                f"unknown convention {convention!r} (expected one of {sorted(CONVENTIONS)})"
            ) from None
    unknown = set(params) - _FIELDS
    if unknown:
        raise SeLoInputError(
            f"unknown parameter(s) {sorted(unknown)}; known: {sorted(_FIELDS)}"
        )
    conv = dataclasses.replace(base, **params) if params else base
    values = {name: _checked(name, getattr(conv, name)) for name in _RANGES}
    return dataclasses.replace(conv, **values)


# Each parameter's valid values, from the formulas (docs/metrics.md): what keeps every metric
# defined and finite. (kind, low, low inclusive, high, high inclusive)
_RANGES: dict[str, tuple[str, float, bool, float, bool]] = {
    # Rsu = 1 - exp(-alpha * in / (total - in + eps) * (HW - A) / A): alpha > 0 (alpha <= 0
    # inverts or overflows it), eps > 0 (total - in is 0 when all attention is inside)
    "rsu_alpha": ("real", 0.0, False, math.inf, False),
    "rsu_eps": ("real", 0.0, False, math.inf, False),
    # r = int(mean distance * expand_factor) must be > 0
    "expand_factor": ("real", 0.0, False, math.inf, False),
    # compared with a probability
    "threshold": ("real", 0.0, True, 1.0, True),
    # Ras = (exp(beta g) - 1) / (exp(beta) - 1): 0 / 0 at beta = 0, inf / inf past ~709
    "ras_beta": ("real", 0.0, False, 700.0, True),
    # exp(-eta (K + 2)): a penalty that does not grow with K
    "rda_eta": ("real", 0.0, True, math.inf, False),
    "w_su": ("real", 0.0, True, math.inf, False),
    "w_as": ("real", 0.0, True, math.inf, False),
    "w_da": ("real", 0.0, True, math.inf, False),
    # box_size: OpenCV-exact up to 257 (the 16-bit row sums); the window sizes are >= 1
    "box_size": ("int", 1, True, 257, True),
    "box_passes": ("int", 0, True, math.inf, False),
    "max_window": ("int", 1, True, math.inf, False),
    "integer_geometry": ("bool", 0, True, 1, True),
    "rda_halve_all": ("bool", 0, True, 1, True),
    "gt_fill": ("choice", 0, True, 0, True),
}


def _checked(name: str, value: Any) -> Any:
    """The parameter as a plain Python value, or a SeLoInputError naming its valid range."""
    kind, lo, lo_in, hi, hi_in = _RANGES[name]
    if kind == "choice":
        if value not in ("cv2", "union") or not isinstance(value, str):
            raise SeLoInputError(f"gt_fill must be 'cv2' or 'union', got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise SeLoInputError(f"{name} must be True or False, got {value!r}")
        return bool(value)
    is_bool = isinstance(value, (bool, np.bool_))
    if kind == "int":
        if is_bool or not isinstance(value, numbers.Integral):
            raise SeLoInputError(f"{name} must be an int, got {value!r}")
        value = int(value)
    else:
        if is_bool or not isinstance(value, numbers.Real):
            raise SeLoInputError(f"{name} must be a real number, got {value!r}")
        value = float(value)
    low_ok = value >= lo if lo_in else value > lo
    high_ok = value <= hi if hi_in else value < hi
    if not (low_ok and high_ok):  # (False for NaN)
        left = "[" if lo_in else "("
        right = "]" if hi_in and hi != math.inf else ")"
        top = "inf" if hi == math.inf else f"{hi:g}"
        raise SeLoInputError(f"{name} must be in {left}{lo:g}, {top}{right}, got {value!r}")
    return value
