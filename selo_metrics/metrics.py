"""The four SeLo metrics: Rsu, Ras, Rda, Rmi, and :func:`evaluate` which computes them all.

Data flow (one way): map -> uint8 view; polygons -> GT mask -> Rsu; polygons -> regions
(centre, radius); map -> attention centres (once) -> Ras and Rda -> Rmi. :func:`evaluate`
runs the Rsu half and the attention half side by side on the kernel threads
(:mod:`selo_metrics.side_by_side`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._kernels.sums import masked_sums
from ._workspace import map_buffers
from .attention import attention_centers as _attention_centers
from .attention import centres_of
from .conventions import Convention, resolve_convention
from .errors import SeLoInputError
from .geometry import PolygonsLike, as_polygons, check_polygons_in_map, gt_regions
from .maps import SeLoMap, as_map
from .raster import gt_mask_rows
from .side_by_side import rsu_sums_and_peaks

__all__ = ["SeLoResult", "attention_centers", "evaluate", "ras", "rda", "rmi", "rsu"]

Region = tuple[float, float, float]
Point = tuple[float, float]


@dataclass(frozen=True)
class SeLoResult:
    """The metrics of one map against its GT, with the intermediates that produced them.

    Attributes
    ----------
    rsu, ras, rda, rmi : float
        The metrics (Ras: lower is better; the others: higher is better).
    mask_area : int
        GT pixels after rasterization (A).
    regions : list of tuple
        ``(cx, cy, r)`` per GT polygon: centre and candidate radius.
    attention_centers : list of tuple
        ``(x, y)`` of the kept attention centres, by descending map value.
    convention : str
        ``"slm"`` or ``"paper"`` (the base convention the parameters came from).
    shape : tuple of int
        ``(H, W)`` of the map.
    sample_id : object
        The caller's id, if given.
    params : dict
        The constants the caller overrode (empty: the convention's own values).
    """

    rsu: float
    ras: float
    rda: float
    rmi: float
    mask_area: int
    regions: list[Region]
    attention_centers: list[Point]
    convention: str = "slm"
    shape: tuple[int, int] = (0, 0)
    sample_id: Any = None
    params: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the metrics and intermediates.

        Examples
        --------
        >>> g = np.zeros((200, 200), np.uint8); g[80:120, 80:120] = 255
        >>> d = evaluate(g, [[(60, 60), (140, 60), (140, 140), (60, 140)]]).to_dict()
        >>> sorted(d)
        ['attention_centers', 'convention', 'mask_area', 'params', 'ras', 'rda', 'regions',
         'rmi', 'rsu', 'sample_id', 'shape']
        >>> d["mask_area"], d["params"]
        (6561, {})
        """
        return {
            "sample_id": self.sample_id,
            "rsu": self.rsu,
            "ras": self.ras,
            "rda": self.rda,
            "rmi": self.rmi,
            "mask_area": self.mask_area,
            "regions": [list(r) for r in self.regions],
            "attention_centers": [list(c) for c in self.attention_centers],
            "convention": self.convention,
            "params": dict(self.params),
            "shape": list(self.shape),
        }

    def __repr__(self) -> str:
        sid = "" if self.sample_id is None else f" {self.sample_id!r}"
        h, w = self.shape
        return (
            f"SeLoResult{sid} [{self.convention}, {h} x {w}]\n"
            f"  Rmi {self.rmi:.4f} | Rsu {self.rsu:.4f} (up)  Ras {self.ras:.4f} (down)"
            f"  Rda {self.rda:.4f} (up)\n"
            f"  GT: {len(self.regions)} region(s), {self.mask_area:,} px; "
            f"{len(self.attention_centers)} attention centre(s)"
        )


def _prepare(
    prob_map: np.ndarray,
    polygons: PolygonsLike,
    convention: str | Convention,
    sample_id: object,
    params: dict[str, Any],
) -> tuple[Convention, SeLoMap, list[np.ndarray], list[Region]]:
    try:
        conv = resolve_convention(convention, **params)
    except SeLoInputError as exc:
        raise exc.with_sample(sample_id) from None
    m = as_map(prob_map, sample_id=sample_id)
    polys = as_polygons(polygons, sample_id=sample_id)
    check_polygons_in_map(
        polys, m.gray.shape, integer=conv.integer_geometry, sample_id=sample_id
    )
    regions = gt_regions(
        polys,
        expand_factor=conv.expand_factor,
        integer=conv.integer_geometry,
        sample_id=sample_id,
    )
    return conv, m, polys, regions


def _rsu(
    conv: Convention, m: SeLoMap, polys: list[np.ndarray], sample_id: object
) -> tuple[float, int]:
    mask = map_buffers(m.gray.shape)[0]
    rows = gt_mask_rows(polys, mask, convention=_gt_fill(conv))
    # np.sum(prob * mask) and np.sum(prob) bit for bit (numpy's pairwise order), as official
    return _rsu_value(conv, m, masked_sums(_values(m), mask, rows), sample_id)


def _check_area(area: int, shape: tuple[int, int], sample_id: object) -> None:
    h, w = shape
    if area == 0:
        raise SeLoInputError(
            f"the GT covers no pixel of the {h} x {w} map (zero area after rasterization)",
            sample_id=sample_id,
        )
    if area == h * w:
        raise SeLoInputError(
            f"the GT covers the whole {h} x {w} map: Rsu is undefined", sample_id=sample_id
        )


def _gt_fill(conv: Convention) -> str:
    return "slm" if conv.gt_fill == "cv2" else "paper"


def _values(m: SeLoMap) -> np.ndarray:
    return m.gray if m.prob is None else m.prob


def _rsu_value(
    conv: Convention, m: SeLoMap, sums: tuple[int, float, float], sample_id: object
) -> tuple[float, int]:
    h, w = m.gray.shape
    area, in_gt, total = sums
    _check_area(area, (h, w), sample_id)
    left = in_gt / (total - in_gt + conv.rsu_eps)
    right = (h * w - area) / area
    value = -np.exp(-1 * conv.rsu_alpha * left * right) + 1  # np.exp: not always math.exp
    return float(value), area


def _centres(conv: Convention, m: SeLoMap) -> list[Point]:
    return _attention_centers(
        m.gray,
        m.prob,
        box_size=conv.box_size,
        box_passes=conv.box_passes,
        max_window=conv.max_window,
        threshold=conv.threshold,
        integer=conv.integer_geometry,
    )


def _distances(region: Region, centres: np.ndarray) -> np.ndarray:
    x, y, _ = region
    d = centres - np.array([x, y])
    return np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])


def _ras(conv: Convention, regions: list[Region], centres: list[Point]) -> float:
    if len(centres) == 0:
        # the official code: offset r of the first region only, so g = 1 and Ras = 1
        g = 1.0
    else:
        pts = np.asarray(centres, dtype=np.float64)
        ratios = []
        for reg in regions:
            d = _distances(reg, pts)
            kept = d[d <= reg[2]]
            off = float(np.mean(kept)) if kept.size else reg[2]
            ratios.append(off / reg[2])
        g = float(np.mean(ratios))
    return float((np.exp(conv.ras_beta * g) - 1) / (np.exp(conv.ras_beta) - 1))


def _rda(conv: Convention, regions: list[Region], centres: list[Point]) -> float:
    pts = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    values = []
    for reg in regions:
        inside = pts[_distances(reg, pts) <= reg[2]] if len(pts) else pts
        k = inside.shape[0]
        if k <= 1:
            values.append(float(k))
            continue
        mean_pt = np.average(inside, axis=0)
        # np.linalg.norm (a BLAS dot, maybe fused) and np.exp, bit for bit as the official
        d = [np.linalg.norm(p - mean_pt) for p in inside]
        spread = float(np.mean(d)) / reg[2]
        tail = float(np.exp(-conv.rda_eta * (k + 2)))
        if conv.rda_halve_all:
            values.append(((1 - spread) + tail) / 2)
        else:
            values.append(0.5 * (1 - spread) + tail)
    return float(np.mean(values))


def _centre_metric(metric, prob_map, polygons, convention, sample_id, params) -> float:
    # Ras or Rda alone: regions and attention centres, then the metric
    conv, m, _, regions = _prepare(prob_map, polygons, convention, sample_id, params)
    return metric(conv, regions, _centres(conv, m))


def rmi(
    rsu: float, ras: float, rda: float, *, w_su: float = 0.4, w_as: float = 0.35,
    w_da: float = 0.25,
) -> float:
    """Rmi, the weighted mean ``w_su Rsu + w_as (1 - Ras) + w_da Rda``.

    Note the argument order (Rsu, Ras, Rda), as in the papers' tables; the official
    ``SLM.rmi`` takes ``(rsu, rda, ras)``.

    Examples
    --------
    >>> round(rmi(0.8, 0.2, 0.6), 6)
    0.75
    """
    return w_su * rsu + w_as * (1 - ras) + w_da * rda


def evaluate(
    prob_map: np.ndarray,
    polygons: PolygonsLike,
    *,
    convention: str | Convention = "slm",
    sample_id: Any = None,
    **params: Any,
) -> SeLoResult:
    """Score one correlation map against its polygon ground truth: Rsu, Ras, Rda, Rmi.

    Parameters
    ----------
    prob_map : numpy.ndarray
        2-D map: uint8 0..255, or float in [0, 1] (truncated to uint8 for the attention
        stage, as the official code does).
    polygons : list or shapely geometry or dict
        The GT: a list of polygons, each a list of ``(x, y)`` pairs or an ``(M, 2)`` array
        (x = column, y = row); shapely ``Polygon`` / ``MultiPolygon``; GeoJSON-like dicts.
    convention : {"slm", "paper"}, optional
        ``"slm"`` (default) reproduces the official evaluation code exactly; ``"paper"``
        follows the printed equations (see :mod:`selo_metrics.conventions`).
    sample_id : object, optional
        Named in every error, and kept in the result.
    **params
        Any constant of :class:`~selo_metrics.conventions.Convention` (``rsu_alpha``,
        ``box_size``, ``max_window``, ``w_su``, ...), official values by default.

    Returns
    -------
    SeLoResult
        The four metrics and the intermediates (mask area, regions, attention centres).

    Raises
    ------
    SeLoInputError
        Any input the metrics cannot score; the message names the problem, the polygon
        index and the sample id.

    Notes
    -----
    The attention-centre stage (five 50 x 50 box filters, a 1000 x 1000 running maximum,
    peak labelling) runs once and serves Ras and Rda; the official code runs it twice.

    Examples
    --------
    >>> g = np.zeros((400, 500), np.uint8)
    >>> g[150:250, 200:300] = 255
    >>> r = evaluate(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]], sample_id="demo")
    >>> round(r.rsu, 4), round(r.ras, 4), r.rda, round(r.rmi, 4)
    (1.0, 0.0031, 1.0, 0.9989)
    >>> r.regions, r.attention_centers
    ([(250, 200, 148)], [(252, 202)])
    """
    conv, m, polys, regions = _prepare(prob_map, polygons, convention, sample_id, params)
    # the GT mask and Rsu sums beside the box filter and peak search, on the kernel threads
    sums, comps = rsu_sums_and_peaks(
        m.gray, _values(m), polys, gt_fill=_gt_fill(conv), box_size=conv.box_size,
        box_passes=conv.box_passes, max_window=conv.max_window,
        check_area=lambda area: _check_area(area, m.gray.shape, sample_id))
    rsu_value, area = _rsu_value(conv, m, sums, sample_id)
    centres = centres_of(comps, m.gray, m.prob, threshold=conv.threshold,
                         integer=conv.integer_geometry)
    ras_value = _ras(conv, regions, centres)
    rda_value = _rda(conv, regions, centres)
    rmi_value = rmi(rsu_value, ras_value, rda_value, w_su=conv.w_su, w_as=conv.w_as,
                    w_da=conv.w_da)
    for name, v in (("Rsu", rsu_value), ("Ras", ras_value), ("Rda", rda_value)):
        if not math.isfinite(v):  # pragma: no cover - guarded by the checks above
            raise SeLoInputError(f"{name} is not finite ({v})", sample_id=sample_id)
    return SeLoResult(
        rsu=rsu_value,
        ras=ras_value,
        rda=rda_value,
        rmi=float(rmi_value),
        mask_area=area,
        regions=regions,
        attention_centers=centres,
        convention=conv.name,
        shape=m.gray.shape,
        sample_id=sample_id,
        params=dict(params),
    )


def rsu(
    prob_map: np.ndarray, polygons: PolygonsLike, *, convention: str | Convention = "slm",
    sample_id: Any = None, **params: Any,
) -> float:
    """Rsu, the significant-area proportion: how much of the attention lies inside the GT.

    ``Rsu = 1 - exp(-alpha * in / (total - in + eps) * (H W - A) / A)``; a uniform map scores
    ``1 - exp(-alpha)`` (0.5069 with the official alpha 0.707). Parameters as
    :func:`evaluate`.

    Examples
    --------
    >>> round(rsu(np.full((100, 100), 128, np.uint8), [[(10, 10), (60, 10), (60, 60)]]), 5)
    0.50688
    """
    conv, m, polys, _ = _prepare(prob_map, polygons, convention, sample_id, params)
    return _rsu(conv, m, polys, sample_id)[0]


def ras(
    prob_map: np.ndarray, polygons: PolygonsLike, *, convention: str | Convention = "slm",
    sample_id: Any = None, **params: Any,
) -> float:
    """Ras, the attention shift: attention centres away from the GT centres (lower is better).

    Parameters as :func:`evaluate`.

    Examples
    --------
    >>> g = np.zeros((400, 500), np.uint8); g[150:250, 200:300] = 255
    >>> round(ras(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]]), 4)
    0.0031
    """
    return _centre_metric(_ras, prob_map, polygons, convention, sample_id, params)


def rda(
    prob_map: np.ndarray, polygons: PolygonsLike, *, convention: str | Convention = "slm",
    sample_id: Any = None, **params: Any,
) -> float:
    """Rda, the discrete attention distance: how concentrated the attention is per region.

    Parameters as :func:`evaluate`.

    Examples
    --------
    >>> g = np.zeros((400, 500), np.uint8); g[150:250, 200:300] = 255
    >>> rda(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]])
    1.0
    """
    return _centre_metric(_rda, prob_map, polygons, convention, sample_id, params)


def attention_centers(
    prob_map: np.ndarray, *, convention: str | Convention = "slm", sample_id: Any = None,
    **params: Any,
) -> list[Point]:
    """The attention centres ``(x, y)`` of a map, as Ras and Rda see them.

    Examples
    --------
    >>> g = np.zeros((400, 500), np.uint8); g[150:250, 200:300] = 255
    >>> attention_centers(g)
    [(252, 202)]
    """
    try:
        conv = resolve_convention(convention, **params)
    except SeLoInputError as exc:
        raise exc.with_sample(sample_id) from None
    return _centres(conv, as_map(prob_map, sample_id=sample_id))
