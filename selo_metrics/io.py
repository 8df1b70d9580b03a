"""Reading map files exactly as the official evaluation does, without OpenCV.

The official code reads every map with ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``. Published
numbers depend on that decoding, so :func:`read_map` reproduces it pixel for pixel, with
Pillow as the only decoder:

* **JPEG** (gray or YCbCr colour): libjpeg decodes straight to gray (``out_color_space =
  JCS_GRAYSCALE``), which is the luma channel Y of the file: no colour conversion at all.
  Pillow's ``draft("L")`` asks libjpeg for the same thing.
* **PNG**: OpenCV asks libpng for gray with ``png_set_rgb_to_gray(png, 1, 0.299, 0.587)``.
  libpng turns those into the 15-bit fixed-point weights 9797, 19234 and 3737 and computes
  ``(9797 R + 19234 G + 3737 B) >> 15`` (truncating, not rounding; gray pixels pass
  unchanged). A file with a significant gamma (a ``gAMA`` chunk away from 1.0, or ``sRGB``)
  goes through libpng's gamma tables: linearise, weight with rounding, re-encode. Alpha is
  dropped, a palette is expanded first, 16-bit gray keeps its high byte, 16-bit colour is
  weighted at 16 bits (rounding) and then keeps its high byte.
* **TIFF**: OpenCV decodes colour and converts with ``cvtColor`` (weights 4899, 9617, 1868
  over 2**14, rounding); 16-bit gray keeps its high byte. A 32-bit float TIFF, which OpenCV
  cannot read, is returned as a float map (the same values as a ``.npy`` file). RGBA with
  unassociated alpha is premultiplied first, ``(c * a + 127) // 255``, as libtiff does.
* **.npy**: a 2-D array, returned as it is (uint8, or float in [0, 1]); object arrays
  (pickles) are refused.
* **Orientation**: OpenCV turns the image upright by its orientation tag (1..8) unless
  told not to, and ``IMREAD_GRAYSCALE`` does not tell it: the EXIF ``APP1`` block of a
  JPEG, the first intact ``eXIf`` chunk of a PNG, tag 274 of a TIFF. So do we; an XMP
  ``tiff:Orientation`` or a PNG text profile is ignored, as OpenCV ignores it.
* **Damaged PNG**: refused where libpng refuses it (no ``IEND``, a chunk cut short, a bad
  CRC on image data, an unknown critical chunk); an ancillary chunk with a bad CRC is
  dropped, as libpng drops it (see ``selo_metrics/_png.py``).
* Only a regular file is opened: a directory, FIFO, device or socket is refused first.

Each rule was checked against OpenCV 5.0 (``tests/selo_metrics/test_io.py``): every one of
the 2**24 RGB colours for PNG with and without gamma, the shared conformance files, the eight
orientations of each format, damaged PNGs. OpenCV 5.0 is the reference; OpenCV 4.10 gives the
same pixels on all of these files, with two exceptions: a TIFF whose orientation swaps the
axes (5..8), which 5.0 cannot read (``imread`` returns None after an internal assertion) and
4.10 reads rotated, and a PNG whose ``IEND`` chunk has a bad CRC, which 5.0 reads and 4.10
refuses. We read both: where one version gives pixels and the other none, its pixels, so no
map that a supported OpenCV scores is lost.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._kernels.color import tiff_rgb_to_gray
from ._png import PNG_SIGNATURE, PngStructureError, exif_orientation, png_structure
from ._png_gamma import _png_file_gamma, _png_rgb_to_gray
from ._workspace import read_buffer
from .errors import SeLoInputError

__all__ = ["MAP_FORMATS", "MapReadError", "read_map"]

#: the file formats :func:`read_map` reads, by their first bytes
MAP_FORMATS = ("JPEG", "PNG", "TIFF", "NPY")

_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    PNG_SIGNATURE: "PNG",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"\x93NUMPY": "NPY",
}

# OpenCV cvtColor RGB2GRAY for 8-bit: 14-bit weights with rounding
_CV_R, _CV_G, _CV_B = 4899, 9617, 1868



class MapReadError(SeLoInputError):
    """A map file that cannot be read: missing, unreadable, corrupt or of an unsupported kind.

    A :class:`~selo_metrics.SeLoInputError` (so a ``ValueError``); ``path`` names the file.

    Examples
    --------
    >>> try:
    ...     read_map("no/such/probmap_0.jpg", sample_id=0)
    ... except MapReadError as err:
    ...     print(err)
    sample 0: map file no/such/probmap_0.jpg does not exist
    """

    def __init__(self, problem: str, *, path: str | os.PathLike | None = None,
                 sample_id: object = None):
        self.path = None if path is None else os.fspath(path)
        super().__init__(problem, sample_id=sample_id)

    def with_sample(self, sample_id: object) -> MapReadError:
        if self.sample_id is not None or sample_id is None:
            return self
        return MapReadError(self.problem, path=self.path, sample_id=sample_id)


def read_map(path: str | bytes | os.PathLike, *, sample_id: object = None) -> np.ndarray:
    """Read a correlation map file the way ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)`` does.

    Parameters
    ----------
    path : str, bytes or path-like
        A JPEG, PNG or TIFF image (8 or 16 bit, gray or colour), or a ``.npy`` array. The
        format is told by the file's first bytes, not its name.
    sample_id : object, optional
        Named in error messages.

    Returns
    -------
    numpy.ndarray
        2-D uint8 gray map for an image file, identical to OpenCV's (its EXIF / TIFF
        orientation applied); for a ``.npy`` file or a float TIFF, the stored 2-D array
        (uint8, or float in [0, 1]) as it is. Pass it to :func:`selo_metrics.evaluate`.

    Raises
    ------
    MapReadError
        The path is not a str, bytes or path-like; the file does not exist, is not a
        regular file (a directory, FIFO, device or socket: refused before it is opened, so
        a FIFO cannot block), cannot be read, is truncated or corrupt (a PNG whose chunks
        libpng refuses, e.g. no ``IEND``), is of an unsupported format or kind (e.g. a CMYK
        JPEG), or a ``.npy`` array that is not 2-D or holds Python objects.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [90, 90, 90]]], np.uint8)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "probmap_0.png"
    >>> Image.fromarray(rgb).save(path)
    >>> read_map(path)  # libpng's weights, truncated: not Pillow's convert("L")
    array([[ 76, 149,  29,  90]], dtype=uint8)
    >>> np.asarray(Image.open(path).convert("L"))
    array([[ 76, 150,  29,  90]], dtype=uint8)
    """
    path = _as_path(path, sample_id)
    shown = _printable(path)

    def fail(problem: str) -> MapReadError:
        return MapReadError(problem, path=path, sample_id=sample_id)

    with _open_regular(path, shown, fail) as fh:
        try:
            head = fh.read(8)
        except OSError as exc:
            raise fail(f"map file {shown} cannot be read ({exc.strerror or exc})") from None
        kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
        if kind is None:
            what = "is empty" if not head else f"is not a {'/'.join(MAP_FORMATS)} file"
            raise fail(f"map file {shown} {what}")
        try:
            fh.seek(0)
            if kind == "NPY":
                return _read_npy(fh)
            return _read_image(fh, kind)
        except MapReadError as exc:
            raise fail(f"map file {shown}: {exc.problem}") from None
        except Image.DecompressionBombError as exc:
            raise fail(f"map file {shown} is above Pillow's size limit ({exc}); if the file is "
                       "trusted, raise PIL.Image.MAX_IMAGE_PIXELS") from None
        except MemoryError:
            raise fail(f"map file {shown} is too large to hold in memory") from None
        except (OSError, ValueError, SyntaxError, UnidentifiedImageError, EOFError,
                struct.error) as exc:
            raise fail(f"map file {shown} is corrupt or truncated ({kind}: {exc})") from None


def _as_path(path: object, sample_id: object) -> Path:
    if isinstance(path, (str, bytes, os.PathLike)):
        try:
            return Path(os.fsdecode(path))  # bytes: the file system's own encoding
        except TypeError:  # a PathLike whose __fspath__ gives neither str nor bytes
            pass
    raise MapReadError(f"map path must be a str, bytes or os.PathLike, got "
                       f"{type(path).__name__}", sample_id=sample_id)


def _printable(path: Path) -> str:
    """The path for messages: undecodable bytes of a file name shown as escapes."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int, shown: str) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"map path {shown} is a directory, not a file"
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a file")
    return f"map path {shown} is {what}, not a regular file"


def _open_regular(path: Path, shown: str, fail: Callable[[str], MapReadError]) -> BinaryIO:
    """Open a regular file for reading; refuse anything else before opening it.

    ``stat`` first: opening a FIFO blocks until a writer comes, opening a device can have
    side effects. ``O_NONBLOCK`` and a second check on the open file close the window in
    which the path could be swapped for a FIFO.
    """
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_BINARY", "O_CLOEXEC"):
        flags |= getattr(os, name, 0)
    fd = None
    try:
        problem = _not_regular(os.stat(path).st_mode, shown)
        if not problem:
            fd = os.open(path, flags)
    except FileNotFoundError:
        raise fail(f"map file {shown} does not exist") from None
    except ValueError:  # "embedded null byte"
        raise fail(f"map path {shown!r} contains a NUL character") from None
    except OSError as exc:
        raise fail(f"map file {shown} cannot be read ({exc.strerror or exc})") from None
    if fd is None:
        raise fail(problem)
    try:
        problem = _not_regular(os.fstat(fd).st_mode, shown)
        if problem:
            raise fail(problem)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_image(fh: BinaryIO, kind: str) -> np.ndarray:
    orientation = 1
    src: BinaryIO = fh
    if kind == "PNG":
        try:
            data, orientation = png_structure(fh.read())
        except PngStructureError as exc:
            raise ValueError(str(exc)) from None
        src = io.BytesIO(data)
    with warnings.catch_warnings():
        # maps of 1k-10k pixels a side pass Pillow's 89 Mpx warning threshold; Pillow's
        # warnings about damaged metadata say nothing about the pixels, which are read
        # (as OpenCV reads them) or refused
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.simplefilter("ignore", UserWarning)
        im = Image.open(src)
        with im:
            if kind == "JPEG":
                orientation = _exif_orientation(im)  # the APP1 EXIF block only, not XMP
                gray = _read_jpeg(im)
            elif kind == "PNG":
                gray = _read_png(im)
            else:
                return _read_tiff(im)
    return _orient(gray, orientation)


def _exif_orientation(im: Image.Image) -> int:
    """The orientation (1..8) OpenCV applies to a JPEG opened with Pillow: its EXIF block's.

    (Used by ``selo_metrics.html.thumbs``.) Not Pillow's ``getexif()``, which also reads XMP.
    """
    return exif_orientation(im.info.get("exif"))


def _orient(gray: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF / TIFF orientation (1..8) as OpenCV does: the upright map, C-ordered."""
    if orientation == 1:
        return gray
    if orientation >= 5:  # 5..8 swap the axes
        gray = gray.T
    flips = {2: (1,), 3: (0, 1), 4: (0,), 5: (), 6: (1,), 7: (0, 1), 8: (0,)}[orientation]
    return np.ascontiguousarray(np.flip(gray, flips) if flips else gray)


def _read_npy(fh: BinaryIO) -> np.ndarray:
    if _npy_holds_objects(fh):
        raise MapReadError(_NPY_OBJECTS)
    try:
        arr = np.load(fh, allow_pickle=False)
    except MemoryError:
        raise
    except Exception as exc:  # np.load's header parser raises what it meets (TokenError...)
        if "pickle" in str(exc):  # a header version this module does not parse itself
            raise MapReadError(_NPY_OBJECTS) from None
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if arr.ndim != 2:
        raise MapReadError(f".npy array must be 2-D (H, W), got shape {arr.shape}")
    return arr


_NPY_OBJECTS = ("the .npy file holds an object array (pickled Python objects); pickled "
                "arrays are refused, as loading them can run code: save a numeric array")


def _npy_holds_objects(fh: BinaryIO) -> bool:
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            dtype = npy_format.read_array_header_1_0(fh)[2]
        elif version == (2, 0):
            dtype = npy_format.read_array_header_2_0(fh)[2]
        else:
            return False
    except Exception:  # a damaged header (the parser raises TokenError too): np.load says
        return False
    finally:
        fh.seek(0)
    return bool(dtype.hasobject)


def _read_jpeg(im: Image.Image) -> np.ndarray:
    if im.mode not in ("L", "RGB"):
        raise MapReadError(f"{im.mode} JPEG is not supported (gray or YCbCr colour only)")
    size = im.size
    im.draft("L", size)  # libjpeg decodes the luma channel only, at full size
    if im.mode != "L" or im.size != size:
        raise MapReadError("this JPEG cannot be decoded to gray at full size")
    return _load_gray(im)


def _load_gray(im: Image.Image) -> np.ndarray:
    """Decode an 8-bit gray image straight into a new numpy array.

    ``np.array(im)`` goes through ``im.tobytes()``: two extra copies of the map, which
    cost as much as the decoding itself. Instead the decoder is given an image core that
    maps the array's memory (``Image.frombuffer``), so it writes the rows in place. When a
    Pillow version does not keep that core, the plain path is taken.
    """
    w, h = im.size
    out = read_buffer((h, w))
    try:
        core = Image.frombuffer("L", (w, h), out, "raw", "L", 0, 1).im
        im.im = core
    except Exception:  # pragma: no cover - a Pillow without a settable core
        im.load()
        return np.array(im, dtype=np.uint8)
    im.load()
    if im.im is not core:  # pragma: no cover - Pillow replaced it: copy the plain way
        return np.array(im, dtype=np.uint8)
    return out


def _png_depth(im: Image.Image) -> int:
    rawmode = im.tile[0][3] if im.tile else ""
    rawmode = rawmode[0] if isinstance(rawmode, tuple) else rawmode
    return 16 if "16" in str(rawmode) else 8


def _read_png(im: Image.Image) -> np.ndarray:
    mode = im.mode
    depth = _png_depth(im)
    if mode in ("I", "I;16", "I;16B"):  # 16-bit gray: OpenCV keeps the high byte
        return (np.asarray(im, dtype=np.uint32) >> 8).astype(np.uint8)
    if mode == "LA" and depth == 16:
        raise MapReadError("16-bit gray+alpha PNG is not supported")
    if mode == "L":
        return _load_gray(im)
    if mode in ("1", "LA"):
        return np.array(im.convert("L"), dtype=np.uint8)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode not in ("RGB", "RGBA"):
        raise MapReadError(f"{mode} PNG is not supported")
    if depth == 16:
        raise MapReadError(
            "16-bit colour PNG is not supported (Pillow decodes it to 8 bits); "
            "save the map as 8-bit or gray"
        )
    return _png_rgb_to_gray(np.asarray(im), _png_file_gamma(im.info))


def _read_tiff(im: Image.Image) -> np.ndarray:
    """A TIFF's pixels, its orientation tag (274) applied as libtiff / OpenCV apply it.

    Pillow applies the tag while loading (and drops it then); it would also take an XMP
    ``tiff:Orientation``, which OpenCV ignores, so that is removed first. Should a Pillow
    version leave the tag in place, the orientation is applied here instead.
    """
    orientation = im.tag_v2.get(274, 1)
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    for key in ("xmp", "XML:com.adobe.xmp"):
        im.info.pop(key, None)
    # the in-place decode of 8-bit gray assumes the stored size: not for a rotated TIFF
    arr = _tiff_pixels(im, in_place=orientation == 1)
    if orientation != 1 and 274 in im.tag_v2:
        arr = _orient(arr, orientation)
    return arr


def _tiff_pixels(im: Image.Image, in_place: bool) -> np.ndarray:
    mode = im.mode
    if mode == "F":
        return np.array(im, dtype=np.float32)
    if mode == "L":
        return _load_gray(im) if in_place else np.array(im, dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im)
        if arr.dtype.itemsize > 2 and (arr.min() < 0 or arr.max() > 65535):
            raise MapReadError(f"{mode} TIFF with values outside 16 bits is not supported")
        return (arr.astype(np.uint32) >> 8).astype(np.uint8)
    if mode in ("RGB", "RGBA", "P"):
        rgb = np.asarray(im.convert("RGB") if mode == "P" else im)
        if mode == "RGBA" and 2 in tuple(im.tag_v2.get(338, ())):
            # unassociated alpha: libtiff's RGBA reader premultiplies, (c * a + 127) // 255
            a = rgb[..., 3:4].astype(np.int32)
            rgb = ((rgb[..., :3].astype(np.int32) * a + 127) // 255).astype(np.uint8)
        return tiff_rgb_to_gray(np.ascontiguousarray(rgb[..., :3]))
    raise MapReadError(f"{mode} TIFF is not supported")
