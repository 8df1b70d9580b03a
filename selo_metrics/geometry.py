"""Ground-truth polygons: normalisation, validation, and the regions (centre, radius).

Every way users hold a GT (lists of ``(x, y)`` pairs, ``(M, 2)`` arrays, shapely
``Polygon`` / ``MultiPolygon``, GeoJSON-like dicts) becomes one list of ``(M, 2)`` float64
arrays, x = column, y = row, with the vertices as listed (duplicates kept: the official
centre is the mean over the listed vertices). Closed rings from shapely and GeoJSON lose
their repeated closing vertex. Anything that cannot be scored raises
:class:`~selo_metrics.errors.SeLoInputError` naming the polygon.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .errors import SeLoInputError
from .raster import INT32_MAX, INT32_MIN, PAPER_MAX_ABS

__all__ = ["PolygonsLike", "as_polygons", "check_polygons_in_map", "gt_regions"]

PolygonsLike = Sequence[Any] | np.ndarray | Mapping[str, Any] | Any


def _open_ring(coords: np.ndarray) -> np.ndarray:
    """Drop the repeated closing vertex of a closed ring (shapely, GeoJSON)."""
    if coords.shape[0] >= 2 and np.array_equal(coords[0], coords[-1]):
        return coords[:-1]
    return coords


#: GeoJSON objects nest FeatureCollection > Feature > geometry: 3 levels. Deeper nesting
#: (or an object holding itself) is refused rather than followed.
_MAX_GEOJSON_DEPTH = 32


def _is_list(obj: Any) -> bool:
    return isinstance(obj, Sequence) and not isinstance(obj, (str, bytes))


def _kind_name(obj: Any) -> str:
    return type(obj).__name__


def _from_geojson(obj: Mapping[str, Any], sample_id: object) -> list[np.ndarray]:
    """The rings of a GeoJSON object, in order; iterative, so no depth can overflow."""
    out: list[np.ndarray] = []
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_GEOJSON_DEPTH:
            raise SeLoInputError(
                f"GeoJSON objects nested deeper than {_MAX_GEOJSON_DEPTH} levels (or an object "
                "that contains itself)",
                sample_id=sample_id,
            )
        if not isinstance(item, Mapping):
            raise SeLoInputError(
                f"expected a GeoJSON object (a dict with a 'type'), got {_kind_name(item)}",
                sample_id=sample_id,
            )
        kind = item.get("type")
        if kind == "FeatureCollection":
            features = item.get("features")
            if not _is_list(features):
                raise SeLoInputError(
                    "GeoJSON FeatureCollection 'features' must be a list, got "
                    f"{_kind_name(features)}",
                    sample_id=sample_id,
                )
            stack.extend((f, depth + 1) for f in reversed(features))
        elif kind == "Feature":
            geom = item.get("geometry")
            if not isinstance(geom, Mapping):
                raise SeLoInputError("GeoJSON Feature without a geometry", sample_id=sample_id)
            stack.append((geom, depth + 1))
        elif kind == "Polygon":
            out.append(_polygon_rings(item.get("coordinates"), len(out), sample_id))
        elif kind == "MultiPolygon":
            polygons = item.get("coordinates")
            if not _is_list(polygons):
                raise SeLoInputError(
                    "GeoJSON MultiPolygon coordinates must be a list of polygons, got "
                    f"{_kind_name(polygons)}",
                    sample_id=sample_id,
                )
            for rings in polygons:
                out.append(_polygon_rings(rings, len(out), sample_id))
        else:
            raise SeLoInputError(
                f"unsupported GeoJSON object of type {kind!r} (expected Polygon, MultiPolygon, "
                "Feature or FeatureCollection)",
                sample_id=sample_id,
            )
    return out


def _polygon_rings(rings: Any, index: int, sample_id: object) -> np.ndarray:
    """The outer ring of GeoJSON Polygon coordinates ``[ring, hole, ...]``."""
    if rings is None or (_is_list(rings) and len(rings) == 0):
        raise SeLoInputError(
            "GeoJSON Polygon without coordinates", sample_id=sample_id, polygon=index
        )
    if not _is_list(rings) or not all(
        _is_list(r) and all(_is_list(p) for p in r) for r in rings
    ):
        raise SeLoInputError(
            "GeoJSON Polygon coordinates must be a list of rings, each a list of [x, y] "
            f"positions (got {_kind_name(rings)}{_shape_hint(rings)})",
            sample_id=sample_id, polygon=index,
        )
    if len(rings) > 1:
        raise SeLoInputError(
            "polygons with holes are not supported: the SeLo GT is a list of simple rings",
            sample_id=sample_id, polygon=index,
        )
    try:
        ring = np.asarray(rings[0], dtype=np.float64)
    except (TypeError, ValueError, RecursionError):
        ring = None
    if ring is None or ring.ndim != 2 or ring.shape[1] < 2:
        raise SeLoInputError(
            "GeoJSON ring positions must be [x, y] or [x, y, z] numbers, all alike",
            sample_id=sample_id, polygon=index,
        )
    # [x, y, altitude]: the altitude is dropped, as for shapely geometries with z
    return _open_ring(np.ascontiguousarray(ring[:, :2]))


def _shape_hint(obj: Any) -> str:
    if not _is_list(obj) or not obj:
        return ""
    if all(isinstance(v, (int, float)) for v in obj):
        return " of numbers"
    if all(_is_list(v) and v and isinstance(v[0], (int, float)) for v in obj):
        return " of positions: wrap a single ring in a list"
    return ""


def _from_shapely(geom: Any, sample_id: object) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    stack = [geom]
    while stack:
        part = stack.pop()
        kind = part.geom_type
        if kind == "Polygon":
            if len(part.interiors) > 0:
                raise SeLoInputError(
                    "polygons with holes are not supported: the SeLo GT is a list of simple "
                    "rings",
                    sample_id=sample_id,
                )
            out.append(_open_ring(np.asarray(part.exterior.coords, dtype=np.float64)[:, :2]))
        elif kind in ("MultiPolygon", "GeometryCollection"):
            stack.extend(reversed(list(part.geoms)))
        else:
            raise SeLoInputError(
                f"unsupported shapely geometry {kind!r} (expected Polygon or MultiPolygon)",
                sample_id=sample_id,
            )
    return out


def _is_shapely(obj: Any) -> bool:
    return hasattr(obj, "geom_type") and hasattr(obj, "__geo_interface__")


def _one_polygon(item: Any, index: int, sample_id: object) -> list[np.ndarray]:
    if _is_shapely(item):
        return _from_shapely(item, sample_id)
    if isinstance(item, Mapping):
        return _from_geojson(item, sample_id)
    if isinstance(item, (str, bytes)):
        raise SeLoInputError(
            f"expected a list of (x, y) vertices, got {type(item).__name__}",
            sample_id=sample_id, polygon=index,
        )
    try:
        arr = np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SeLoInputError(
            f"vertices are not an (M, 2) array of numbers ({exc})",
            sample_id=sample_id, polygon=index,
        ) from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise SeLoInputError(
            f"expected an (M, 2) array of (x, y) vertices, got shape {arr.shape}",
            sample_id=sample_id, polygon=index,
        )
    return [arr]


def _validate(poly: np.ndarray, index: int, sample_id: object) -> np.ndarray:
    if not np.all(np.isfinite(poly)):
        raise SeLoInputError("vertex is NaN or infinite", sample_id=sample_id, polygon=index)
    distinct = np.unique(poly, axis=0)
    if distinct.shape[0] < 3:
        raise SeLoInputError(
            f"fewer than 3 distinct vertices ({distinct.shape[0]})",
            sample_id=sample_id, polygon=index,
        )
    if _collinear(distinct):
        raise SeLoInputError(
            "zero-area polygon: all vertices are collinear", sample_id=sample_id, polygon=index
        )
    return np.ascontiguousarray(poly)


def _collinear(distinct: np.ndarray) -> bool:
    """All vertices on one line, up to the rounding of their coordinates (O(M)).

    The line runs through the first vertex and the one farthest from it; a vertex's
    distance ``h`` from it is its offset along the line's unit normal ``n``. Rounding a
    coordinate ``c`` (a decimal written as a float, or any arithmetic) moves it by up to
    ``eps |c|``, across the line by that times the normal's component, so the noise on
    ``h`` is a few times ``eps (max|x| |n_x| + max|y| |n_y|)``; vertices within 16 times
    that are on the line. A long thin sliver clear of that noise is a polygon however thin
    it is for its length (a tolerance relative to the length, ``1e-12 |far|`` as before,
    called a triangle 50 px high and 2**63 px long collinear).
    """
    d = distinct - distinct[0]
    far = d[int(np.argmax(np.hypot(d[:, 0], d[:, 1])))]
    length = float(np.hypot(far[0], far[1]))
    nx, ny = -far[1] / length, far[0] / length
    h = np.abs(d[:, 0] * nx + d[:, 1] * ny)  # distance across the line
    mx, my = np.abs(distinct).max(axis=0)
    noise = np.finfo(np.float64).eps * (mx * abs(nx) + my * abs(ny))
    return bool(h.max() <= 16 * noise)


def as_polygons(polygons: PolygonsLike, *, sample_id: object = None) -> list[np.ndarray]:
    """Normalise a ground truth to a list of ``(M, 2)`` float64 vertex arrays.

    Parameters
    ----------
    polygons : list, numpy.ndarray, shapely geometry or dict
        A list of polygons, each a list of ``(x, y)`` pairs, an ``(M, 2)`` array, a shapely
        ``Polygon`` or a GeoJSON-like dict; or one shapely ``Polygon`` / ``MultiPolygon``, or
        one GeoJSON ``Polygon``, ``MultiPolygon``, ``Feature`` or ``FeatureCollection``.
        x is the column, y the row.
    sample_id : object, optional
        Named in error messages.

    Returns
    -------
    list of numpy.ndarray
        One ``(M, 2)`` float64 array per polygon, vertices as listed.

    Raises
    ------
    SeLoInputError
        No polygon; a polygon of the wrong type or shape; a NaN or infinite vertex; fewer
        than 3 distinct vertices; collinear vertices (zero area).

    Examples
    --------
    >>> [p.tolist() for p in as_polygons([[(0, 0), (10, 0), (10, 5)]])]
    [[[0.0, 0.0], [10.0, 0.0], [10.0, 5.0]]]
    >>> as_polygons([[(0, 0), (1, 1), (2, 2)]], sample_id="q3")
    Traceback (most recent call last):
    ...
    selo_metrics.errors.SeLoInputError: sample 'q3': polygon 0: zero-area polygon: ...
    """
    if polygons is None:
        raise SeLoInputError("no polygon: the ground truth is None", sample_id=sample_id)
    if isinstance(polygons, (str, bytes)):
        raise SeLoInputError(
            f"expected a list of polygons, got {type(polygons).__name__}", sample_id=sample_id
        )
    if _is_shapely(polygons):
        raw = _from_shapely(polygons, sample_id)
    elif isinstance(polygons, Mapping):
        raw = _from_geojson(polygons, sample_id)
    else:
        if isinstance(polygons, np.ndarray) and polygons.ndim == 2:
            raise SeLoInputError(
                "expected a list of polygons, got one (M, 2) array: wrap it in a list",
                sample_id=sample_id,
            )
        if not isinstance(polygons, Iterable):
            raise SeLoInputError(
                f"expected a list of polygons, got {type(polygons).__name__}",
                sample_id=sample_id,
            )
        items = list(polygons)
        if items and all(isinstance(v, (int, float, np.number)) for v in items):
            raise SeLoInputError(
                "expected a list of polygons, got a flat list of numbers", sample_id=sample_id
            )
        raw = []
        for i, item in enumerate(items):
            raw.extend(_one_polygon(item, i, sample_id))
    if len(raw) == 0:
        raise SeLoInputError("no polygon: the ground truth is empty", sample_id=sample_id)
    return [_validate(p, i, sample_id) for i, p in enumerate(raw)]


def _even_odd_contains(poly: np.ndarray, x: float, y: float) -> bool:
    xs, ys = poly[:, 0], poly[:, 1]
    xj, yj = np.roll(xs, 1), np.roll(ys, 1)
    crosses = (ys > y) != (yj > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = xs + (y - ys) * (xj - xs) / (yj - ys)
    return bool(np.count_nonzero(crosses & (x < xc)) % 2)


def check_polygons_in_map(
    polygons: list[np.ndarray],
    shape: tuple[int, int],
    *,
    integer: bool = True,
    sample_id: object = None,
) -> None:
    """Raise if a polygon lies wholly outside the map.

    A polygon partly outside is fine (only the inside counts). ``integer=True`` tests the
    vertices truncated toward zero, as the ``"slm"`` rasterizer sees them, and refuses
    coordinates beyond int32 (which ``np.array(p, np.int32)`` cannot hold);
    ``integer=False`` (``"paper"``) refuses coordinates beyond ``2**62`` in magnitude
    (the limit of its exact predicates).

    Examples
    --------
    >>> check_polygons_in_map([np.array([[-50., -50], [-10, -50], [-10, -10]])], (100, 100))
    Traceback (most recent call last):
    ...
    selo_metrics.errors.SeLoInputError: polygon 0: polygon lies wholly outside the 100 x 100 map
    """
    import shapely

    h, w = shape
    box = shapely.box(0, 0, w - 1, h - 1)
    for i, poly in enumerate(polygons):
        p = np.trunc(poly) if integer else poly
        if integer and (p.min() < INT32_MIN or p.max() > INT32_MAX):
            raise SeLoInputError(
                "vertex coordinate beyond the int32 range that the official rasterizer "
                "(np.int32 points) can represent",
                sample_id=sample_id, polygon=i,
            )
        if not integer and float(np.max(np.abs(p))) > PAPER_MAX_ABS:
            raise SeLoInputError(
                "vertex coordinate beyond 2**62 in magnitude, the limit of the 'paper' "
                "convention's exact predicates",
                sample_id=sample_id, polygon=i,
            )
        ring = shapely.LineString(np.vstack([p, p[:1]]))
        if shapely.intersects(ring, box) or _even_odd_contains(p, 0.0, 0.0):
            continue
        raise SeLoInputError(
            f"polygon lies wholly outside the {h} x {w} map", sample_id=sample_id, polygon=i
        )


def gt_regions(
    polygons: list[np.ndarray],
    *,
    expand_factor: float = 1.5,
    integer: bool = True,
    sample_id: object = None,
) -> list[tuple[float, float, float]]:
    """The ``(cx, cy, r)`` of every GT polygon: vertex mean and expanded mean radius.

    With ``integer=True`` (``"slm"``) this is the official arithmetic exactly:
    ``cx = int(sum(x) / M)`` with a left-to-right float sum, likewise ``cy``, and
    ``r = int(mean_m |v_m - (cx, cy)| * expand_factor)``; with ``integer=False`` (``"paper"``)
    nothing is truncated.

    Raises
    ------
    SeLoInputError
        A candidate radius of 0 (Ras and Rda would divide by it).

    Examples
    --------
    >>> gt_regions([np.array([[0., 0], [100, 0], [100, 50], [0, 50]])])
    [(50, 25, 83)]
    >>> gt_regions([np.array([[0., 0], [100, 0], [100, 50], [0, 50]])], integer=False)
    [(50.0, 25.0, 83.8525491562421)]
    """
    out: list[tuple[float, float, float]] = []
    for i, poly in enumerate(polygons):
        m = poly.shape[0]
        # the official code: reduce(+) over numpy float64 scalars (left to right: a
        # cumulative sum is the same sequence of additions), divided by the count
        sx = np.cumsum(poly[:, 0])[-1] / m
        sy = np.cumsum(poly[:, 1])[-1] / m
        if integer:
            cx, cy = int(sx), int(sy)
            dists = _vertex_distances(poly, np.array([cx, cy]))
            r = int(np.mean(dists) * expand_factor)
            region = (cx, cy, r)
        else:
            cx, cy = float(sx), float(sy)
            dists = _vertex_distances(poly, np.array([cx, cy]))
            r = float(np.mean(dists) * expand_factor)
            region = (cx, cy, r)
        if not r > 0:
            raise SeLoInputError(
                f"candidate radius is 0 (polygon too small: mean vertex distance "
                f"{np.mean(dists):.3g} px from its centre)",
                sample_id=sample_id, polygon=i,
            )
        out.append(region)
    return out


def _vertex_distances(poly: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``[np.linalg.norm(np.array(v) - centre) for v in poly]``, bit for bit, in O(M) numpy.

    ``norm`` is ``sqrt(d @ d)``, a BLAS dot product that may or may not fuse its multiply
    and add (machine-dependent). When both squares are exact (integer differences up to
    2**26, the usual pixel coordinates) every order and fusion gives the one rounding of
    ``dx**2 + dy**2``, so one vectorised expression is exact; any other vertex goes through
    the same dot product as ``np.linalg.norm``, one row at a time.
    """
    d = poly - centre  # the same float64 subtraction, element by element
    exact = np.all((d == np.trunc(d)) & (np.abs(d) <= 2.0**26), axis=1)
    dists = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
    if not exact.all():
        rest = np.flatnonzero(~exact)
        # np.linalg.norm(row) is sqrt(row.dot(row)) (a 1-D row: the same BLAS dot; sqrt is
        # correctly rounded in numpy and in math alike), without its checks per call
        dists[rest] = [math.sqrt(row.dot(row)) for row in d[rest]]
    return dists
