"""What the RRSIS data set readers share: the error, the image-size rule, mask files, splits.

**Size rule.** The annotation's size is the truth: a COCO image entry's ``height`` /
``width`` (RRSIS-D), or the GT mask file's size (RefSegRS, RISBench). An image whose size
differs (some RRSIS-D JPEGs are 800 x 801 or 800 x 787 while their annotations say
800 x 800) is brought to the annotation's size and written, losslessly, as a PNG under
``OUT/images/`` (only those images; the others are used where they are):

``"resize"`` (default)
    The whole image is resized to the annotation's size (Pillow, bilinear). This keeps the
    geometry of RMSIN / LAVT's evaluation, which squashes the image and the annotation to
    480 x 480 independently: the image's full extent is mapped onto the annotation's.
``"crop"``
    The image is cropped at its bottom and right edges, or padded there with black, to
    the annotation's size: pixels keep their coordinates (right when the annotation was
    drawn on the top-left part of the image).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..datasets import ManifestError

__all__ = [
    "SIZE_RULES",
    "DatasetError",
    "fit_image",
    "image_size",
    "read_split_file",
    "write_mask_png",
]

SIZE_RULES = ("resize", "crop")


class DatasetError(ManifestError):
    """A data set folder or file that cannot be read as RRSIS samples (a ``ValueError``)."""


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` of an image file, from its header (no decoding).

    Raises
    ------
    DatasetError
        The file is missing or not an image Pillow can identify.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError:
        raise DatasetError(f"image file {path} does not exist") from None
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from None
    return int(h), int(w)


def fit_image(
    path: str | os.PathLike,
    size: tuple[int, int],
    out_dir: str | os.PathLike | None,
    *,
    rule: str = "resize",
    what: str = "",
) -> tuple[str, tuple[int, int] | None]:
    """The image to use for an annotation of ``size`` (H, W), applying the size rule.

    Returns ``(path, original_size)``: the image itself and None when its size is the
    annotation's; else the PNG written under ``out_dir/images/`` and the image's size.

    Raises
    ------
    DatasetError
        Unknown rule; the image is unreadable; its size differs and ``out_dir`` is None.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (8, 9)).save(d / "a.jpg")
    >>> p, orig = fit_image(d / "a.jpg", (8, 8), d / "out", rule="crop")
    >>> pathlib.Path(p).relative_to(d).as_posix(), orig, image_size(p)
    ('out/images/a.png', (9, 8), (8, 8))
    """
    if rule not in SIZE_RULES:
        raise DatasetError(f"unknown size rule {rule!r}; expected one of {SIZE_RULES}")
    own = image_size(path)
    if own == tuple(size):
        return str(path), None
    if out_dir is None:
        raise DatasetError(
            f"{what or path}: image {path} is {own[0]} x {own[1]} but its annotation is "
            f"{size[0]} x {size[1]}; give an output folder so that the size rule "
            f"({rule!r}) can write the fitted image"
        )
    from PIL import Image

    target = Path(out_dir) / "images" / (Path(path).stem + ".png")
    if not target.exists():
        with Image.open(path) as im:
            im = im.convert("RGB")
            h, w = size
            if rule == "resize":
                fitted = im.resize((w, h), Image.BILINEAR)
            else:
                fitted = Image.new("RGB", (w, h))
                fitted.paste(im.crop((0, 0, min(w, im.width), min(h, im.height))), (0, 0))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp.png")
        fitted.save(tmp)
        tmp.replace(target)
    return str(target), own


def write_mask_png(mask: np.ndarray, path: str | os.PathLike) -> str:
    """Write a 0/1 mask as an 8-bit gray PNG holding 0 and 255; return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> p = write_mask_png(np.eye(3, dtype=bool), pathlib.Path(tempfile.mkdtemp()) / "m.png")
    >>> np.asarray(Image.open(p)).tolist()
    [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(np.where(np.asarray(mask) != 0, 255, 0).astype(np.uint8), mode="L").save(tmp)
    tmp.replace(path)
    return str(path)


def read_split_file(path: str | os.PathLike) -> Iterator[tuple[int, str, str]]:
    """``(line number, first word, rest of the line)`` for each non-empty line.

    The split files of RefSegRS and RISBench hold ``<name> <expression>`` a line.

    Raises
    ------
    DatasetError
        The file is missing or unreadable, or a line has a name but no expression.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "output_phrase_test.txt"
    >>> _ = p.write_text("12 paved road\\n\\n7  the   red car \\n")
    >>> list(read_split_file(p))
    [(1, '12', 'paved road'), (3, '7', 'the   red car')]
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"split file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read split file {path}: {exc}") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.strip().split(maxsplit=1)
        if not parts:
            continue
        if len(parts) == 1:
            raise DatasetError(f"{path}, line {lineno}: {parts[0]!r} has no expression")
        yield lineno, parts[0], parts[1].strip()
