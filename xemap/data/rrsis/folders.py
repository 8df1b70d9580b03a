"""RefSegRS and RISBench: a split file of ``<name> <expression>`` lines, images and masks.

* **RefSegRS** (Yuan et al.): ``images/<stem>.tif``, ``masks/<stem>.tif``,
  ``output_phrase_{train,val,test}.txt`` with lines ``<stem> <sentence>``.
* **RISBench** (CroBIM): ``img_rgb/<file>.png``, ``mask/<file>.png`` (the same name),
  ``output_phrase_{train,val,test}.txt`` with lines ``<file.png> <expression>`` (the
  public download has train and test only).

One sample per line, in file order, id ``<split>-<line number>``. The GT is the mask
file, referenced where it is (nothing is rewritten); its foreground is every pixel whose
gray value is not 0 (:func:`selo_metrics.rrsis.read_mask`). The mask's size is the truth:
an image of another size is fitted to it (:mod:`xemap.data.rrsis.common`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .common import DatasetError, fit_image, image_size, read_split_file

__all__ = ["LAYOUTS", "load_refsegrs", "load_risbench"]

#: per data set: (image folder, mask folder, file suffix added to a bare name)
LAYOUTS = {
    "refsegrs": ("images", "masks", ".tif"),
    "risbench": ("img_rgb", "mask", ".png"),
}


def _load(
    name: str, root: str | os.PathLike, split: str, out_dir: Any, size_rule: str
) -> list[dict[str, Any]]:
    root = Path(root)
    img_sub, mask_sub, suffix = LAYOUTS[name]
    split_file = root / f"output_phrase_{split}.txt"
    out = Path(out_dir) if out_dir is not None else None
    sizes: dict[str, tuple[str, Any, tuple[int, int]]] = {}
    rows = []
    for lineno, stem, text in read_split_file(split_file):
        where = f"{split_file}, line {lineno}"
        file_name = stem if Path(stem).suffix else stem + suffix
        if file_name not in sizes:
            image, mask = root / img_sub / file_name, root / mask_sub / file_name
            for kind, path in (("image", image), ("mask", mask)):
                if not path.is_file():
                    raise DatasetError(f"{where}: {kind} file {path} does not exist")
            mask_size = image_size(mask)
            image_path, own = fit_image(image, mask_size, out, rule=size_rule, what=where)
            sizes[file_name] = (image_path, own, mask_size)
        image_path, own, (h, w) = sizes[file_name]
        row = {
            "id": f"{split}-{lineno}",
            "image": image_path,
            "query": text,
            "mask": str(root / mask_sub / file_name),
            "name": file_name,
            "height": h,
            "width": w,
        }
        if own is not None:
            row["image_size"] = list(own)
        rows.append(row)
    return rows


def load_refsegrs(
    root: str | os.PathLike,
    *,
    split: str = "test",
    out_dir: str | os.PathLike | None = None,
    size_rule: str = "resize",
) -> list[dict[str, Any]]:
    """Read a RefSegRS split as manifest rows (``id``, ``image``, ``query``, ``mask``, ...).

    Raises
    ------
    DatasetError
        A missing split file, image or mask; a line without an expression; an image whose
        size differs from its mask's when ``out_dir`` is None.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for sub in ("images", "masks"):
    ...     (d / sub).mkdir(); Image.new("L", (4, 3)).save(d / sub / "17.tif")
    >>> _ = (d / "output_phrase_test.txt").write_text("17 the paved road\\n")
    >>> r = load_refsegrs(d)[0]
    >>> r["id"], r["query"], pathlib.Path(r["mask"]).name, (r["height"], r["width"])
    ('test-1', 'the paved road', '17.tif', (3, 4))
    """
    return _load("refsegrs", root, split, out_dir, size_rule)


def load_risbench(
    root: str | os.PathLike,
    *,
    split: str = "test",
    out_dir: str | os.PathLike | None = None,
    size_rule: str = "resize",
) -> list[dict[str, Any]]:
    """Read a RISBench split as manifest rows (``id``, ``image``, ``query``, ``mask``, ...).

    Raises
    ------
    DatasetError
        As :func:`load_refsegrs`.
    """
    return _load("risbench", root, split, out_dir, size_rule)
