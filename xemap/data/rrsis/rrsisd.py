"""RRSIS-D (RMSIN): the REFER layout, ``refs(unc).p`` + COCO ``instances.json`` + JPEGs.

One sample per sentence of every ref of the split, in the pickle's order of refs and each
ref's order of sentences (the order of RMSIN's ``test.py``); the query is the sentence's
``raw`` text (what RMSIN tokenises). The split follows REFER's ``getRefIds``: ``"train"``
and ``"val"`` match exactly, ``"test"`` matches every ref whose split contains ``test``.

The GT (``gt=``):

``"polygons"`` (default)
    A polygon annotation goes into the manifest as its polygons (``[[x, y], ...]`` in
    the annotation's pixel coordinates), so both metric families can score it: the RRSIS
    metrics rasterise them with :func:`selo_metrics.gt_mask` (the run's convention;
    ``"slm"``: OpenCV's even-odd fill, under which overlapping parts leave only their
    outlines in the overlap, close to REFER's rule below). An RLE annotation is decoded
    and written as ``OUT/masks/ann_<ann_id>.png``.
``"refer"``
    Every annotation is rasterised as REFER + LAVT / RMSIN do (pycocotools' polygon
    rasteriser, parts summed, only pixels equal to 1 kept: overlaps become background) and
    written as a mask PNG: the GT of the field's published numbers, pixel for pixel.

Image size: :mod:`xemap.data.rrsis.common` (the annotation's ``height`` x ``width`` is the
truth).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .coco import segmentation_mask
from .common import DatasetError, fit_image, write_mask_png
from .safe_pickle import load_plain_pickle

__all__ = ["GT_MODES", "find_rrsisd_files", "load_rrsisd"]

GT_MODES = ("polygons", "refer")


def find_rrsisd_files(root: str | os.PathLike, splitby: str = "unc") -> dict[str, Path]:
    """Locate ``refs(<splitby>).p``, ``instances.json`` and ``JPEGImages/`` under ``root``.

    Looks in ``root`` itself and in the REFER layout (``root/rrsisd/`` for the annotation
    files, ``root/images/rrsisd/JPEGImages`` for the images).

    Raises
    ------
    DatasetError
        A file is found in none of the places (they are listed).
    """
    root = Path(root)
    places = {
        "refs": [root / f"refs({splitby}).p", root / "rrsisd" / f"refs({splitby}).p"],
        "instances": [root / "instances.json", root / "rrsisd" / "instances.json"],
        "images": [root / "JPEGImages", root / "images" / "rrsisd" / "JPEGImages", root / "images"],
    }
    found = {}
    for key, paths in places.items():
        hit = next((p for p in paths if p.exists()), None)
        if hit is None:
            raise DatasetError(
                f"RRSIS-D: no {key} under {root} (looked for {', '.join(str(p) for p in paths)})"
            )
        found[key] = hit
    return found


def _split_matches(wanted: str, split: Any) -> bool:
    if not isinstance(split, str):
        return False
    return "test" in split if wanted == "test" else split == wanted


def _polygons(segmentation: list[Any], where: str) -> list[list[list[float]]]:
    out = []
    for k, flat in enumerate(segmentation):
        if (
            not isinstance(flat, list | tuple)
            or len(flat) < 6
            or len(flat) % 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat)
        ):
            raise DatasetError(f"{where}: polygon {k} is not a flat list of >= 3 x, y pairs")
        out.append([[float(flat[i]), float(flat[i + 1])] for i in range(0, len(flat), 2)])
    return out


def _index(items: Any, name: str, path: Path) -> dict[Any, dict[str, Any]]:
    if not isinstance(items, list) or not all(isinstance(i, dict) and "id" in i for i in items):
        raise DatasetError(f"{path}: '{name}' must be a list of objects with an 'id'")
    return {i["id"]: i for i in items}


def _read_instances(path: Path) -> tuple[dict, dict, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path} as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a COCO object with images, annotations, categories")
    return (
        _index(data.get("images"), "images", path),
        _index(data.get("annotations"), "annotations", path),
        _index(data.get("categories", []), "categories", path),
    )


def load_rrsisd(
    root: str | os.PathLike | None = None,
    *,
    split: str = "test",
    refs: str | os.PathLike | None = None,
    instances: str | os.PathLike | None = None,
    images: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    gt: str = "polygons",
    size_rule: str = "resize",
    splitby: str = "unc",
) -> list[dict[str, Any]]:
    """Read RRSIS-D (REFER layout) as manifest rows, one per sentence.

    Parameters
    ----------
    root : path, optional
        The data set folder (see :func:`find_rrsisd_files`); or give ``refs``,
        ``instances`` and ``images`` explicitly (they win over ``root``).
    split : {"train", "val", "test"}
    out_dir : path, optional
        Where derived files go: ``masks/`` (RLE annotations; every one with
        ``gt="refer"``) and ``images/`` (images fitted to their annotation's size). Needed
        only when there is such a file to write.
    gt : {"polygons", "refer"}
        See the module docstring.
    size_rule : {"resize", "crop"}
        See :mod:`xemap.data.rrsis.common`.
    splitby : str
        The REFER split name in the pickle's file name, ``refs(<splitby>).p``.

    Returns
    -------
    list of dict
        ``{"id": "<ref_id>-<sent_id>", "image", "query", "polygons" | "mask",
        "category", "ref_id", "ann_id", "image_id", "sent_id", "height", "width"}``, plus
        ``"image_size"`` (the image's own ``[h, w]``) where the image was fitted.

    Raises
    ------
    DatasetError
        Missing or malformed files, a ref naming an unknown annotation or image, an
        unsafe pickle (:class:`~xemap.data.rrsis.safe_pickle.UnsafePickleError`).
    """
    if gt not in GT_MODES:
        raise DatasetError(f"unknown gt mode {gt!r}; expected one of {GT_MODES}")
    if split not in ("train", "val", "test"):
        raise DatasetError(f"unknown split {split!r}; expected train, val or test")
    if root is not None and None in (refs, instances, images):
        found = find_rrsisd_files(root, splitby)
        refs = refs or found["refs"]
        instances = instances or found["instances"]
        images = images or found["images"]
    if None in (refs, instances, images):
        raise DatasetError("RRSIS-D: give root, or refs, instances and images")
    refs_path, inst_path, img_dir = Path(refs), Path(instances), Path(images)
    ref_list = load_plain_pickle(refs_path)
    if not isinstance(ref_list, list):
        raise DatasetError(f"{refs_path}: expected a list of refs, got {type(ref_list).__name__}")
    imgs, anns, cats = _read_instances(inst_path)
    out = Path(out_dir) if out_dir is not None else None
    fitted: dict[Any, tuple[str, Any]] = {}
    masks: dict[Any, str] = {}
    rows = []
    for r, ref in enumerate(ref_list):
        where = f"{refs_path}: ref {r}"
        if not isinstance(ref, dict):
            raise DatasetError(f"{where}: expected an object, got {type(ref).__name__}")
        if not _split_matches(split, ref.get("split")):
            continue
        try:
            ref_id, ann_id, image_id = ref["ref_id"], ref["ann_id"], ref["image_id"]
            sentences = ref["sentences"]
        except KeyError as exc:
            raise DatasetError(f"{where}: missing {exc.args[0]!r}") from None
        where = f"{refs_path}: ref_id {ref_id}"
        if ann_id not in anns:
            raise DatasetError(f"{where}: annotation {ann_id} is not in {inst_path}")
        if image_id not in imgs:
            raise DatasetError(f"{where}: image {image_id} is not in {inst_path}")
        ann, img = anns[ann_id], imgs[image_id]
        try:
            h, w, file_name = int(img["height"]), int(img["width"]), str(img["file_name"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(
                f"{inst_path}: image {image_id} needs height, width, file_name"
            ) from None
        if image_id not in fitted:
            fitted[image_id] = fit_image(
                img_dir / file_name, (h, w), out, rule=size_rule, what=where
            )
        image_path, own_size = fitted[image_id]
        segm = ann.get("segmentation")
        gt_field: dict[str, Any]
        is_poly = isinstance(segm, list) and bool(segm) and isinstance(segm[0], list | tuple)
        if gt == "polygons" and is_poly:
            gt_field = {"polygons": _polygons(segm, f"{inst_path}: annotation {ann_id}")}
        else:
            if ann_id not in masks:
                if out is None:
                    raise DatasetError(
                        f"{where}: annotation {ann_id} needs a mask file "
                        "(RLE, or gt='refer'): give an output folder"
                    )
                try:
                    m = segmentation_mask(
                        segm, (h, w), overlap="refer" if gt == "refer" else "union"
                    )
                except DatasetError as exc:
                    raise DatasetError(f"{inst_path}: annotation {ann_id}: {exc}") from None
                masks[ann_id] = write_mask_png(m, out / "masks" / f"ann_{ann_id}.png")
            gt_field = {"mask": masks[ann_id]}
        category = cats.get(ref.get("category_id", ann.get("category_id")), {}).get("name")
        if not isinstance(sentences, list):
            raise DatasetError(f"{where}: 'sentences' must be a list")
        for k, sent in enumerate(sentences):
            text = sent.get("raw", sent.get("sent")) if isinstance(sent, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise DatasetError(f"{where}: sentence {k} has no 'raw' text")
            sent_id = sent.get("sent_id", k)
            row = {
                "id": f"{ref_id}-{sent_id}",
                "image": image_path,
                "query": text,
                **gt_field,
                "category": category,
                "ref_id": ref_id,
                "ann_id": ann_id,
                "image_id": image_id,
                "sent_id": sent_id,
                "height": h,
                "width": w,
            }
            if own_size is not None:
                row["image_size"] = list(own_size)
            rows.append(row)
    return rows
