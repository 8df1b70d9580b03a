"""Regenerate ``formats/``: small map files of every supported kind, and what OpenCV reads.

Needs OpenCV (``pip install opencv-python-headless``); the library and its tests do not.
``expected.npz`` holds ``cv2.imread(file, cv2.IMREAD_GRAYSCALE)`` for each file, under the
file's name; ``tests/selo_metrics/test_io.py`` checks ``read_map`` against it. Run
``python tests/data/files/make_formats.py``; importing this module (pytest's doctest
collection does) writes nothing.
"""

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_chunk(src: Path, dst: Path, kind: bytes, data: bytes) -> None:
    raw = src.read_bytes()
    dst.write_bytes(raw[:33] + chunk(kind, data) + raw[33:])  # right after IHDR


def main() -> None:
    import cv2

    out = Path(__file__).parent / "formats"
    out.mkdir(exist_ok=True)
    rng = np.random.default_rng(20261122)
    rgb = rng.integers(0, 256, (41, 67, 3), dtype=np.uint8)
    rgb[:5, :5] = rgb[:5, :5, :1]  # some gray pixels inside colour files
    gray = rng.integers(0, 256, (41, 67), dtype=np.uint8)

    Image.fromarray(gray).save(out / "gray.png")
    Image.fromarray(rgb).save(out / "rgb.png")
    Image.fromarray(np.dstack([rgb, gray])).save(out / "rgba.png")
    Image.fromarray(np.dstack([gray, gray[::-1]]), "LA").save(out / "gray_alpha.png")
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=32).save(out / "palette.png")
    Image.fromarray((gray >> 4) * 17).save(out / "gray_4bit.png", bits=4)
    Image.fromarray(gray).convert("1").save(out / "gray_1bit.png")
    cv2.imwrite(str(out / "gray_16bit.png"), rng.integers(0, 65536, (41, 67), dtype=np.uint16))
    with_chunk(out / "rgb.png", out / "rgb_gamma_045455.png", b"gAMA", struct.pack(">I", 45455))
    with_chunk(out / "rgb.png", out / "rgb_gamma_1.png", b"gAMA", struct.pack(">I", 100000))
    with_chunk(out / "rgb.png", out / "rgb_gamma_22.png", b"gAMA", struct.pack(">I", 220000))
    with_chunk(out / "rgb.png", out / "rgb_srgb.png", b"sRGB", b"\x00")
    Image.fromarray(gray).save(out / "gray_q75.jpg", quality=75)
    Image.fromarray(rgb).save(out / "rgb_420.jpg", quality=90)
    Image.fromarray(rgb).save(out / "rgb_444_progressive.jpg", subsampling=0, progressive=True)
    cv2.imwrite(str(out / "rgb_opencv.jpg"), rgb[..., ::-1])
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(rgb).save(out / f"rgb_exif_orientation_{orientation}.jpg", exif=exif)
    Image.fromarray(gray).save(out / "gray.tif", compression="tiff_lzw")
    Image.fromarray(rgb).save(out / "rgb.tif")
    Image.fromarray(np.dstack([rgb, gray])).save(out / "rgba_unassociated.tif")
    Image.fromarray(rng.integers(0, 65536, (41, 67), dtype=np.uint16)).save(out / "gray_16bit.tif")

    expected = {}
    for path in sorted(out.iterdir()):
        if path.suffix in (".png", ".jpg", ".tif"):
            decoded = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            assert decoded is not None, path
            expected[path.name] = decoded
    np.savez_compressed(out / "expected.npz", **expected)
    print(f"{len(expected)} files, OpenCV {cv2.__version__}")


if __name__ == "__main__":
    main()
