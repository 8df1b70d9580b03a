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
from dataclasses import dataclass
from typing import Any

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

    Raises
    ------
    SeLoInputError
        Unknown convention or parameter name, or a parameter out of its range.

    Examples
    --------
    >>> resolve_convention("slm", box_size=0)
    Traceback (most recent call last):
    ...
    selo_metrics.errors.SeLoInputError: box_size must be a positive int, got 0
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
    for name in ("box_size", "max_window"):
        v = getattr(conv, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise SeLoInputError(f"{name} must be a positive int, got {v!r}")
    if not isinstance(conv.box_passes, int) or conv.box_passes < 0:
        raise SeLoInputError(f"box_passes must be an int >= 0, got {conv.box_passes!r}")
    if conv.box_size > 257:
        raise SeLoInputError(f"box_size must be at most 257, got {conv.box_size}")
    if conv.gt_fill not in ("cv2", "union"):
        raise SeLoInputError(f"gt_fill must be 'cv2' or 'union', got {conv.gt_fill!r}")
    return conv
