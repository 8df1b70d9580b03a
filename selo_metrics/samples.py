"""Test sets: the AIR-SLT ``anno.json`` with a maps directory, and the library's own manifest.

A test set is a list of :class:`Sample`: what one map is scored against. Two inputs give one:

* **AIR-SLT** ``anno.json``: a JSON list of ``{"caption", "jpg_name", "points"}``. Entry
  ``idx`` is scored from ``MAPS_DIR/probmap_{idx}.jpg``, or ``probmap_{idx}.png`` when only
  that exists (the official generator's naming).
* **Manifest** (``.json``: a list, or ``{"samples": [...]}``; ``.jsonl``: one object a line).
  Per sample:

  ============== ========================================================================
  ``id``         required, unique: a string or an integer
  ``map``        required: path of the map file, relative to ``MAPS_DIR`` when given, else
                 to the manifest's directory
  ``polygons``   the GT: a list of polygons, each a list of ``[x, y]`` (AIR-SLT
                 ``points``), or any GeoJSON geometry / Feature / FeatureCollection
  ``geojson``    instead of ``polygons``: path of a GeoJSON file (relative like ``map``)
  ``mask``       instead of ``polygons``: path of a GT mask image (foreground: gray value not
                 0), relative to the manifest's directory; RRSIS metrics only (the SeLo
                 metrics need polygons: such a sample fails when they are asked for)
  ``query``      optional: the text query
  ``attributes`` optional: a flat object of scalar attributes, e.g. ``{"multi_hop": true,
                 "multi_ref": false, "source": "DIOR"}``; the summary gives a mean per value
  ============== ========================================================================

Structural problems (no ``id``, a duplicate ``id``, no map, no GT, an unknown key) are
reported at once as :class:`ManifestError`, naming the line; a map or polygon that cannot be
scored fails only its own sample, when the runner scores it.
"""

from __future__ import annotations

import codecs
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._json import loads
from .errors import SeLoInputError

__all__ = ["ManifestError", "Sample", "load_samples", "read_records", "write_manifest"]

_KEYS = {"id", "map", "polygons", "geojson", "mask", "query", "attributes"}
#: names a manifest attribute may not take: they are the columns of ``samples.jsonl``
RESERVED = frozenset(
    {"index", "id", "map", "query", "rsu", "ras", "rda", "rmi", "seconds", "error",
     "mask_area", "shape", "overlay", "overlay_error", "convention", "mask", "iou", "inter",
     "union"}
)


class ManifestError(SeLoInputError):
    """An annotation file or manifest that cannot be read as a test set."""


@dataclass(frozen=True)
class Sample:
    """One query of a test set: the map file to score and the GT it is scored against.

    Attributes
    ----------
    index : int
        Position in the test set (0-based); the order of every summary.
    id : str
        The sample's id (AIR-SLT: the entry index as a string).
    map : str
        Path of the map file.
    polygons : object
        The GT polygons (anything :func:`selo_metrics.as_polygons` takes), or None when
        ``geojson`` names a file.
    query : str or None
        The text query.
    attributes : dict
        Flat scalar attributes (``multi_hop``, ``multi_ref``, ``source``, ...).
    geojson : str or None
        Path of a GeoJSON file holding the GT.
    mask : str or None
        Path of a GT mask image (RRSIS metrics only).
    """

    index: int
    id: str
    map: str
    polygons: Any = None
    query: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    geojson: str | None = None
    mask: str | None = None

    def load_gt(self) -> Any:
        """The GT for the RRSIS metrics: the mask file read as bool, else the polygons."""
        if self.mask is not None:
            from .rrsis import read_mask

            return read_mask(self.mask, sample_id=self.id)
        return self.load_polygons()

    def load_polygons(self) -> Any:
        """The GT: ``polygons``, or the parsed GeoJSON file.

        Raises
        ------
        SeLoInputError
            The GeoJSON file is missing or is not JSON; the sample has a mask instead.
        """
        if self.mask is not None:
            raise SeLoInputError("the sample's GT is a mask; the SeLo metrics need polygons "
                                 "(Ras and Rda use the regions' centres and radii): score "
                                 "mask samples with --metrics rrsis", sample_id=self.id)
        if self.geojson is None:
            return self.polygons
        try:
            data = Path(self.geojson).read_bytes()
        except OSError as exc:
            raise SeLoInputError(f"GeoJSON file {self.geojson} cannot be read "
                                 f"({exc.strerror or exc})", sample_id=self.id) from None
        try:
            return loads(data, f"GeoJSON file {self.geojson}")
        except ValueError as exc:
            raise SeLoInputError(str(exc), sample_id=self.id) from None


def read_records(path: str | os.PathLike) -> list[Any]:
    """The records of a JSON file (a list, or ``{"samples": [...]}``) or a JSONL file.

    Shared by every manifest reader of the project (this module's and ``xemap.data``'s).

    Raises
    ------
    ManifestError
        The file cannot be read, a line or the file is not JSON, or it holds no list.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.jsonl"
    >>> _ = p.write_text(chr(10).join(['{"id": 1}', '', '{"id": 2}']))
    >>> read_records(p)
    [{'id': 1}, {'id': 2}]
    """
    return _read_json_or_jsonl(Path(path))[0]


_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def _text(path: Path) -> str:
    """The file as text: UTF-8 (a byte-order mark is dropped), else a clear error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"annotation file {path} cannot be read ({exc.strerror or exc})"
                            ) from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise ManifestError(f"{path} is {name} text; JSON files are UTF-8: save it as "
                                "UTF-8")
    if b"\x00" in data:
        raise ManifestError(f"{path} holds NUL bytes: UTF-16 or UTF-32 text? JSON files are "
                            "UTF-8: save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(f"{path}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}"
                            "; Latin-1 or another legacy encoding?): save it as UTF-8"
                            ) from None


def _read_json_or_jsonl(path: Path) -> tuple[list[Any], bool]:
    text = _text(path)
    if path.suffix.lower() == ".jsonl":
        items = []
        # "\n" alone ends a line (a "\r" before it is JSON whitespace); str.splitlines()
        # would also split at U+2028, U+0085 ..., which JSON strings may hold as they are
        for lineno, line in enumerate(text.split("\n"), 1):
            if line.strip():
                try:
                    items.append(loads(line, f"{path}, line {lineno}"))
                except ValueError as exc:
                    raise ManifestError(str(exc)) from None
        return items, True
    try:
        data = loads(text, str(path))
    except ValueError as exc:
        raise ManifestError(str(exc)) from None
    if isinstance(data, dict) and isinstance(data.get("samples"), list):
        data = data["samples"]
    if not isinstance(data, list):
        raise ManifestError(f"{path}: expected a JSON list of samples (AIR-SLT anno.json or "
                            f"a manifest), got {type(data).__name__}")
    return data, False


def _is_air_slt(items: list[Any]) -> bool:
    # the official anno.json: caption, jpg_name, points; a manifest names 'id' and 'map'
    return bool(items) and any(
        isinstance(it, dict) and "jpg_name" in it and not {"id", "map"} & it.keys()
        for it in items
    )


def _air_slt(items: list[Any], maps_dir: Path | None, path: Path) -> list[Sample]:
    if maps_dir is None:
        raise ManifestError(f"{path} is an AIR-SLT anno.json: give the maps directory "
                            "(probmap_{idx}.jpg / .png)")
    samples = []
    for idx, item in enumerate(items):
        where = f"{path}: AIR-SLT entry {idx} (probmap_{idx})"
        if not isinstance(item, dict):
            raise ManifestError(f"{where} is a JSON {type(item).__name__}, not an object")
        if "points" not in item:
            raise ManifestError(f"{where} has no 'points' (its GT polygons)")
        caption = item.get("caption")
        if caption is not None and not isinstance(caption, str):
            raise ManifestError(f"{where}: 'caption' must be a string")
        jpg = maps_dir / f"probmap_{idx}.jpg"
        png = maps_dir / f"probmap_{idx}.png"
        map_path = png if (not jpg.exists() and png.exists()) else jpg
        samples.append(Sample(index=idx, id=str(idx), map=str(map_path), polygons=item["points"],
                              query=caption))
    return samples


def _manifest(items: list[Any], maps_dir: Path | None, path: Path, jsonl: bool) -> list[Sample]:
    base = maps_dir if maps_dir is not None else path.parent
    samples = []
    seen: dict[str, int] = {}
    for idx, item in enumerate(items):
        where = f"{path}, {'line' if jsonl else 'sample'} {idx + 1}"
        if not isinstance(item, dict):
            raise ManifestError(f"{where}: expected an object, got {type(item).__name__}")
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise ManifestError(f"{where}: unknown key(s) {unknown} (known: {sorted(_KEYS)}; "
                                "put extra fields under 'attributes')")
        if "id" not in item or not isinstance(item["id"], str | int) or isinstance(
                item["id"], bool):
            raise ManifestError(f"{where}: 'id' (a string or an integer) is required")
        sid = str(item["id"])
        if sid in seen:
            raise ManifestError(f"{where}: duplicate id {sid!r} (first at sample {seen[sid]})")
        seen[sid] = idx + 1
        if not isinstance(item.get("map"), str) or not item["map"]:
            raise ManifestError(f"{where} (id {sid!r}): 'map' (a path) is required")
        has_poly, has_geo, has_mask = "polygons" in item, "geojson" in item, "mask" in item
        if has_poly + has_geo + has_mask != 1:
            raise ManifestError(f"{where} (id {sid!r}): give exactly one of 'polygons' and "
                                "'geojson' (or 'mask', for the RRSIS metrics only)")
        if has_mask and (not isinstance(item["mask"], str) or not item["mask"]):
            raise ManifestError(f"{where} (id {sid!r}): 'mask' must be a path")
        attrs = item.get("attributes", {})
        if not isinstance(attrs, dict):
            raise ManifestError(f"{where} (id {sid!r}): 'attributes' must be an object")
        for key, value in attrs.items():
            if key in RESERVED:
                raise ManifestError(f"{where} (id {sid!r}): attribute name {key!r} is reserved")
            if not (value is None or isinstance(value, str | int | float | bool)):
                raise ManifestError(f"{where} (id {sid!r}): attribute {key!r} must be a "
                                    f"scalar, got {type(value).__name__}")
        query = item.get("query")
        if query is not None and not isinstance(query, str):
            raise ManifestError(f"{where} (id {sid!r}): 'query' must be a string")
        geojson = str(base / item["geojson"]) if has_geo else None
        mask = str(path.parent / item["mask"]) if has_mask else None
        samples.append(Sample(index=idx, id=sid, map=str(base / item["map"]),
                              polygons=item.get("polygons"), query=query,
                              attributes=dict(attrs), geojson=geojson, mask=mask))
    return samples


def load_samples(anno: str | os.PathLike, maps_dir: str | os.PathLike | None = None
                 ) -> list[Sample]:
    """Read a test set: an AIR-SLT ``anno.json`` with its maps directory, or a manifest.

    Parameters
    ----------
    anno : str or path-like
        AIR-SLT ``anno.json``, or a manifest (``.json`` / ``.jsonl``; see the module
        docstring for its fields).
    maps_dir : str or path-like, optional
        Directory of the maps: required for AIR-SLT (``probmap_{idx}.jpg`` / ``.png``);
        for a manifest, the base of relative ``map`` paths (default: the manifest's
        directory).

    Returns
    -------
    list of Sample
        In file order; ``Sample.index`` is the position.

    Raises
    ------
    ManifestError
        The file cannot be read, is not JSON, or a sample lacks a required field.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "test.jsonl").write_text(json.dumps({"id": "q1", "map": "q1.png",
    ...     "polygons": [[[0, 0], [9, 0], [9, 9]]], "attributes": {"multi_hop": True}}))
    >>> s = load_samples(d / "test.jsonl")[0]
    >>> s.id, pathlib.Path(s.map).name, s.attributes
    ('q1', 'q1.png', {'multi_hop': True})
    """
    path = Path(anno)
    items, jsonl = _read_json_or_jsonl(path)
    mdir = None if maps_dir is None else Path(maps_dir)
    if mdir is not None and not mdir.is_dir():
        raise ManifestError(f"maps directory {mdir} does not exist or is not a directory")
    if not jsonl and _is_air_slt(items):
        return _air_slt(items, mdir, path)
    return _manifest(items, mdir, path, jsonl)


def write_manifest(samples: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write a manifest as JSON Lines (one sample a line), for :func:`load_samples`.

    Parameters
    ----------
    samples : list of dict
        Each with ``id``, ``map``, ``polygons``, ``geojson`` or ``mask``, and optionally ``query``
        and ``attributes``.
    path : str or path-like
        The ``.jsonl`` file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_manifest([{"id": 1, "map": "a.png", "polygons": [[[0, 0], [5, 0], [0, 5]]]}],
    ...                    pathlib.Path(tempfile.mkdtemp()) / "m.jsonl")
    >>> load_samples(p)[0].id
    '1'
    """
    path = Path(path)
    with open(path, "w", encoding="utf-8") as fh:
        for sample in samples:
            fh.write(json.dumps(sample) + "\n")
    return path
