"""Ground-truth polygons: normalisation, validation, and the regions (centre, radius).

Every way users hold a GT (lists of ``(x, y)`` pairs, ``(M, 2)`` arrays, shapely
``Polygon`` / ``MultiPolygon``, GeoJSON-like dicts) becomes one list of ``(M, 2)`` float64
arrays, x = column, y = row, with the vertices as listed (duplicates kept: the official
centre is the mean over the listed vertices). Closed rings from shapely and GeoJSON lose
their repeated closing vertex. Anything that cannot be scored raises
:class:`~selo_metrics.errors.SeLoInputError` naming the polygon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import reduce
from typing import Any

import numpy as np

from .errors import SeLoInputError

__all__ = ["PolygonsLike", "as_polygons", "check_polygons_in_map", "gt_regions"]

PolygonsLike = Sequence[Any] | np.ndarray | Mapping[str, Any] | Any


def _open_ring(coords: np.ndarray) -> np.ndarray:
    """Drop the repeated closing vertex of a closed ring (shapely, GeoJSON)."""
    if coords.shape[0] >= 2 and np.array_equal(coords[0], coords[-1]):
        return coords[:-1]
    return coords


def _from_geojson(obj: Mapping[str, Any], sample_id: object) -> list[np.ndarray]:
    kind = obj.get("type")
    if kind == "FeatureCollection":
        out: list[np.ndarray] = []
        for feat in obj.get("features", []):
            out.extend(_from_geojson(feat, sample_id))
        return out
    if kind == "Feature":
        geom = obj.get("geometry")
        if not isinstance(geom, Mapping):
            raise SeLoInputError("GeoJSON Feature without a geometry", sample_id=sample_id)
        return _from_geojson(geom, sample_id)
    if kind == "Polygon":
        rings = obj.get("coordinates")
        return [_polygon_rings(rings, sample_id)]
    if kind == "MultiPolygon":
        return [_polygon_rings(rings, sample_id) for rings in obj.get("coordinates", [])]
    raise SeLoInputError(
        f"unsupported GeoJSON object of type {kind!r} (expected Polygon, MultiPolygon, "
        "Feature or FeatureCollection)",
        sample_id=sample_id,
    )


def _polygon_rings(rings: Any, sample_id: object) -> np.ndarray:
    if not isinstance(rings, Sequence) or len(rings) == 0:
        raise SeLoInputError("GeoJSON Polygon without coordinates", sample_id=sample_id)
    if len(rings) > 1:
        raise SeLoInputError(
            "polygons with holes are not supported: the SeLo GT is a list of simple rings",
            sample_id=sample_id,
        )
    return _open_ring(np.asarray(rings[0], dtype=np.float64))


def _from_shapely(geom: Any, sample_id: object) -> list[np.ndarray]:
    kind = geom.geom_type
    if kind == "Polygon":
        if len(geom.interiors) > 0:
            raise SeLoInputError(
                "polygons with holes are not supported: the SeLo GT is a list of simple rings",
                sample_id=sample_id,
            )
        return [_open_ring(np.asarray(geom.exterior.coords, dtype=np.float64)[:, :2])]
    if kind in ("MultiPolygon", "GeometryCollection"):
        out: list[np.ndarray] = []
        for part in geom.geoms:
            out.extend(_from_shapely(part, sample_id))
        return out
    raise SeLoInputError(
        f"unsupported shapely geometry {kind!r} (expected Polygon or MultiPolygon)",
        sample_id=sample_id,
    )


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
    # collinear: every vertex on the line through the first and the farthest vertex (O(M))
    d = distinct - distinct[0]
    far = d[int(np.argmax(np.hypot(d[:, 0], d[:, 1])))]
    cross = d[:, 0] * far[1] - d[:, 1] * far[0]
    if float(np.max(np.abs(cross))) <= 1e-12 * float(far @ far):
        raise SeLoInputError(
            "zero-area polygon: all vertices are collinear", sample_id=sample_id, polygon=index
        )
    return np.ascontiguousarray(poly)


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
    coordinates beyond int32 (which ``np.array(p, np.int32)`` cannot hold).

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
        if integer and float(np.max(np.abs(p))) > 2**31 - 1:
            raise SeLoInputError(
                "vertex coordinate beyond the int32 range that the official rasterizer "
                "(np.int32 points) can represent",
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
        # the official code: reduce(+) over numpy float64 scalars, divided by the count
        sx = reduce(lambda a, b: a + b, poly[:, 0]) / m
        sy = reduce(lambda a, b: a + b, poly[:, 1]) / m
        if integer:
            cx, cy = int(sx), int(sy)
            centre = np.array([cx, cy])
            dists = [np.linalg.norm(np.array(v) - centre) for v in poly.tolist()]
            r = int(np.mean(dists) * expand_factor)
            region = (cx, cy, r)
        else:
            cx, cy = float(sx), float(sy)
            dists = [np.linalg.norm(np.array(v) - np.array([cx, cy])) for v in poly.tolist()]
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
