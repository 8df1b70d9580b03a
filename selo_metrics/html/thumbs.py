"""Small JPEG thumbnails of maps and overlays, for the report's galleries.

A map is never decoded at full size when the file allows less: a JPEG is decoded by libjpeg
at 1/2, 1/4 or 1/8 scale (Pillow's ``draft``); other formats are read with
:func:`selo_metrics.read_map` and box-reduced at once. The thumbnail is the map in the
SeLo papers' colormap with the GT polygons outlined in white.
"""

from __future__ import annotations

import base64
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..geometry import as_polygons
from ..io import _exif_orientation, _orient, read_map
from ..maps import as_map

__all__ = ["THUMB_SIDE", "data_uri", "map_thumbnail", "overlay_thumbnail", "reduced_map"]

#: the longer side of a thumbnail, in pixels
THUMB_SIDE = 320
_QUALITY = 82


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    """A ``data:`` URI embedding ``data`` in the page.

    Examples
    --------
    >>> data_uri(b"abc", "image/png")
    'data:image/png;base64,YWJj'
    """
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=_QUALITY, optimize=True)
    return buf.getvalue()


def _open(path: str | os.PathLike) -> Image.Image:
    with warnings.catch_warnings():
        # maps of 1k-10k pixels a side pass Pillow's 89 Mpx warning threshold
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def reduced_map(
    path: str | os.PathLike, side: int = THUMB_SIDE
) -> tuple[np.ndarray, tuple[int, int]]:
    """A map file's gray pixels with the longer side at most ``side``, and its full size.

    Parameters
    ----------
    path : str or path-like
        A map file :func:`selo_metrics.read_map` reads.
    side : int
        The longer side of the result, in pixels.

    Returns
    -------
    gray : numpy.ndarray
        2-D uint8, the map reduced (a JPEG: decoded at reduced scale, the luma channel as
        ``read_map`` takes it; otherwise read whole, then box-averaged).
    full_shape : tuple of int
        ``(H, W)`` of the map at full size (after the EXIF orientation).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.jpg"
    >>> Image.fromarray(np.full((4000, 3000), 200, np.uint8)).save(p)
    >>> g, full = reduced_map(p, 320)
    >>> g.shape, full, int(g.mean())
    ((320, 240), (4000, 3000), 200)
    """
    with open(path, "rb") as fh:
        head = fh.read(3)
    if head == b"\xff\xd8\xff":
        with _open(path) as im:
            w, h = im.size
            orientation = _exif_orientation(im)  # the EXIF block only, as read_map reads it
            # libjpeg decodes at the smallest of 1/1, 1/2, 1/4, 1/8 that is still >= side
            im.draft("L", (max(1, w * side // max(w, h)), max(1, h * side // max(w, h))))
            im = im.convert("L")
            im.thumbnail((side, side), Image.Resampling.BOX)
            small = _orient(np.asarray(im, dtype=np.uint8), orientation)
            turned = orientation in (5, 6, 7, 8)  # a quarter turn swaps the sides
            return small, ((w, h) if turned else (h, w))
    gray = as_map(read_map(path)).gray
    h, w = gray.shape
    im = Image.fromarray(gray)
    factor = max(1, max(h, w) // side)
    if factor > 1:
        im = im.reduce(factor)
    im.thumbnail((side, side), Image.Resampling.BOX)
    return np.asarray(im, dtype=np.uint8), (h, w)


def _lut(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[cmap](np.arange(256))[:, :3] * 255 + 0.5).astype(np.uint8)


def map_thumbnail(
    path: str | os.PathLike, gt: Any = None, *, side: int = THUMB_SIDE, cmap: str = "jet"
) -> bytes:
    """A JPEG thumbnail of a map file in ``cmap``, with its GT outlined.

    Parameters
    ----------
    path : str or path-like
        The map file.
    gt : object, optional
        The GT polygons in full-size pixel coordinates (anything
        :func:`selo_metrics.as_polygons` takes) or a 2-D GT mask (RRSIS; scaled to the
        thumbnail); None draws the map alone.
    side : int
        The longer side of the thumbnail.
    cmap : str
        A matplotlib colormap (default ``"jet"``, as :func:`selo_metrics.plot_result`).

    Returns
    -------
    bytes
        The JPEG file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.png"
    >>> Image.fromarray(np.zeros((1000, 2000), np.uint8)).save(p)
    >>> jpg = map_thumbnail(p, [[(100, 100), (900, 100), (900, 900)]])
    >>> Image.open(io.BytesIO(jpg)).size
    (320, 160)
    """
    gray, (h, w) = reduced_map(path, side)
    rgb = _lut(cmap)[gray]
    if isinstance(gt, np.ndarray) and gt.ndim == 2:
        rgb[_mask_outline(gt, gray.shape)] = 255
        gt = None
    im = Image.fromarray(rgb, "RGB")
    if gt is not None:
        sx, sy = gray.shape[1] / w, gray.shape[0] / h
        draw = ImageDraw.Draw(im)
        for poly in as_polygons(gt):
            xy = [(float(x) * sx, float(y) * sy) for x, y in poly]
            draw.polygon(xy, outline=(255, 255, 255), width=2)
    return _jpeg(im)


def _mask_outline(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The border pixels of a GT mask scaled (nearest) to ``shape``, 2 pixels wide."""
    small = Image.fromarray(np.asarray(mask).astype(bool).astype(np.uint8) * 255)
    m = np.asarray(small.resize(shape[::-1], Image.Resampling.NEAREST)) > 0
    inner = m.copy()
    for _ in range(2):  # erode twice: 4-neighbours all inside
        p = np.pad(inner, 1)
        inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~inner


def overlay_thumbnail(path: str | os.PathLike, *, side: int = THUMB_SIDE) -> bytes:
    """A JPEG thumbnail of an overlay PNG written by ``selo-metrics score --overlays``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.png"
    >>> Image.new("RGBA", (770, 860), "white").save(p)
    >>> Image.open(io.BytesIO(overlay_thumbnail(p))).size
    (287, 320)
    """
    with _open(Path(path)) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side), Image.Resampling.LANCZOS)
        return _jpeg(im)
