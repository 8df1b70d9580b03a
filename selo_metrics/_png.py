"""A PNG file's chunk structure, checked as libpng checks it when OpenCV reads the file.

Pillow is lenient where libpng (and so ``cv2.imread``) is not: it decodes a file that ends
before its ``IEND`` chunk, or whose image data fail their CRC, and OpenCV refuses both. Pillow
is strict where libpng is not: an ancillary chunk with a bad CRC stops Pillow, libpng drops
the chunk and reads on. :func:`png_structure` walks the chunks once (headers, lengths,
CRCs), refuses what libpng refuses, and gives Pillow the file without the chunks libpng
would drop. It also finds the ``eXIf`` chunk that OpenCV takes the orientation from.

The rules, each checked against OpenCV 5.0 and 4.10 (``tests/selo_metrics/test_io.py``):

* every chunk must be whole (length, type, data, CRC) up to and including ``IEND``;
  whatever follows ``IEND`` is ignored;
* a chunk type is four ASCII letters; a critical chunk (upper-case first letter) must be
  ``IHDR``, ``PLTE``, ``IDAT`` or ``IEND``, and its CRC must match (``IEND``'s CRC is not
  checked: OpenCV 5.0 reads such a file, 4.10 does not);
* an ancillary chunk with a bad CRC is dropped;
* the orientation is that of the first intact ``eXIf`` chunk (before or after the image
  data) that starts with a TIFF header; ``Exif\\0\\0``-prefixed chunks, XMP and text
  profiles are not read by OpenCV, so not here either.
"""

from __future__ import annotations

import struct
import warnings
import zlib

__all__ = ["PNG_SIGNATURE", "PngStructureError", "exif_orientation", "png_structure"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}
_MAX_LENGTH = 2**31 - 1  # the PNG specification's limit on a chunk's length


class PngStructureError(ValueError):
    """The chunk structure libpng refuses; the message says where."""


def png_structure(data: bytes) -> tuple[bytes, int]:
    """Check a PNG file's chunks; return the bytes to decode and the orientation (1..8).

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("L", (3, 2)).save(buf, format="PNG")
    >>> png_structure(buf.getvalue())[1]
    1
    >>> png_structure(buf.getvalue()[:-12])
    Traceback (most recent call last):
    ...
    selo_metrics._png.PngStructureError: the file ends before its IEND chunk
    """
    view = memoryview(data)
    pos = len(PNG_SIGNATURE)
    dropped: list[tuple[int, int]] = []
    orientation = None
    while True:
        if pos + 8 > len(data):
            raise PngStructureError("the file ends before its IEND chunk")
        (length,) = struct.unpack_from(">I", data, pos)
        kind = bytes(view[pos + 4 : pos + 8])
        end = pos + 12 + length
        if not kind.isalpha() or not kind.isascii():
            raise PngStructureError(f"invalid chunk type {kind!r} at byte {pos}")
        if length > _MAX_LENGTH:
            raise PngStructureError(f"chunk {kind.decode()} at byte {pos} has an invalid length")
        if end > len(data):
            raise PngStructureError(
                f"chunk {kind.decode()} at byte {pos} is cut short "
                "(the file ends before its IEND chunk)"
            )
        critical = kind[0] < 0x61  # upper-case first letter
        if critical and kind not in _CRITICAL:
            raise PngStructureError(f"unknown critical chunk {kind.decode()} at byte {pos}")
        if kind == b"IEND":
            break
        (crc,) = struct.unpack_from(">I", data, end - 4)
        intact = zlib.crc32(view[pos + 4 : end - 4]) == crc
        if not intact and critical:
            raise PngStructureError(f"chunk {kind.decode()} at byte {pos} fails its CRC")
        if not intact:
            dropped.append((pos, end))  # libpng warns and drops an ancillary chunk
        elif kind == b"eXIf" and orientation is None:
            payload = bytes(view[pos + 8 : end - 4])
            if payload[:4] in (b"II*\x00", b"MM\x00*"):
                orientation = exif_orientation(payload)
        pos = end
    if dropped:
        parts, last = [], 0
        for a, b in dropped:
            parts.append(view[last:a])
            last = b
        parts.append(view[last:])
        data = b"".join(parts)
    return data, orientation or 1


def exif_orientation(exif: bytes | None) -> int:
    """The orientation (1..8) in an EXIF block (TIFF header, or ``Exif\\0\\0`` + header).

    1 when there is none, it is not 1..8, or the block is unreadable (as OpenCV does).

    Examples
    --------
    >>> from PIL import Image
    >>> e = Image.Exif(); e[0x0112] = 6
    >>> exif_orientation(e.tobytes()), exif_orientation(b"junk"), exif_orientation(None)
    (6, 1, 1)
    """
    if not exif:
        return 1
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF blocks
            parsed = Image.Exif()
            parsed.load(exif)
            value = parsed.get(0x0112, 1)
    except Exception:  # an unreadable EXIF block is ignored, as OpenCV ignores it
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
