"""read_map: the very pixels of cv2.imread(path, IMREAD_GRAYSCALE), without OpenCV."""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selo_metrics import MapReadError, SeLoInputError, evaluate, read_map
from tests.conftest import SHARED

FILES = Path(__file__).parents[1] / "data" / "files"
FORMATS = FILES / "formats"
EXPECTED = dict(np.load(FORMATS / "expected.npz"))


def _cases(root: Path) -> list[dict]:
    if not (root / "cases.json").exists():
        return []
    return [dict(c, _root=str(root)) for c in json.loads((root / "cases.json").read_text())]


BUNDLED_FILE_CASES = _cases(FILES)
SHARED_FILE_CASES = _cases(SHARED / "conformance" / "files")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_format_decodes_like_opencv(name):
    """One file per format and kind, decoded by OpenCV 5.0 when the fixtures were made."""
    got = read_map(FORMATS / name)
    want = EXPECTED[name]
    assert got.dtype == np.uint8 and got.shape == want.shape
    assert np.array_equal(got, want), f"{name}: {np.count_nonzero(got != want)} pixels differ"


def test_colour_png_is_not_pillow_convert_l():
    # the fixtures would not catch a reader that happened to use Pillow's weights
    pillow = np.asarray(Image.open(FORMATS / "rgb.png").convert("L"))
    assert not np.array_equal(read_map(FORMATS / "rgb.png"), pillow)


def _check_file_case(case: dict) -> None:
    gray = read_map(Path(case["_root"]) / case["map"], sample_id=case["id"])
    assert gray.shape == (case["height"], case["width"])
    res = evaluate(gray, case["polygons"])
    for key in ("rsu", "ras", "rda", "rmi"):
        assert abs(getattr(res, key) - case["expected"][key]) <= 1e-9, (case["id"], key)


@pytest.mark.parametrize("case", BUNDLED_FILE_CASES, ids=lambda c: c["id"])
def test_bundled_file_cases_match_the_official_scores(case):
    _check_file_case(case)


@pytest.mark.skipif(not SHARED_FILE_CASES, reason="../shared/conformance/files not present")
@pytest.mark.parametrize("case", SHARED_FILE_CASES, ids=lambda c: c["id"])
def test_shared_file_cases_match_the_official_scores(case):
    _check_file_case(case)


def test_file_case_formats_are_covered():
    ids = " ".join(c["id"] for c in BUNDLED_FILE_CASES)
    assert all(k in ids for k in ("gray_jpg", "rgb_jpg", "rgb_png", "q75"))


def test_npy_and_float_tiff_are_returned_as_stored(tmp_path):
    prob = np.random.default_rng(0).random((20, 30))
    np.save(tmp_path / "m.npy", prob)
    assert np.array_equal(read_map(tmp_path / "m.npy"), prob)
    Image.fromarray(prob.astype(np.float32)).save(tmp_path / "m.tif")
    got = read_map(tmp_path / "m.tif")
    assert got.dtype == np.float32 and np.array_equal(got, prob.astype(np.float32))
    # the format is told by the bytes, not the name
    (tmp_path / "m.jpg").write_bytes((tmp_path / "m.npy").read_bytes())
    assert np.array_equal(read_map(tmp_path / "m.jpg"), prob)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent.png", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: (d / "e.png").touch() or d / "e.png", "is empty"),
        (lambda d: (d / "t.txt").write_text("hello") and d / "t.txt", "is not a JPEG/PNG"),
        (lambda d: (d / "x.jpg").write_bytes((FORMATS / "rgb_420.jpg").read_bytes()[:400])
         and d / "x.jpg", "corrupt or truncated"),
        (lambda d: (d / "x.png").write_bytes((FORMATS / "rgb.png").read_bytes()[:200])
         and d / "x.png", "corrupt or truncated"),
        (lambda d: np.save(d / "c.npy", np.zeros((4, 4, 3))) or d / "c.npy", "must be 2-D"),
    ],
    ids=["missing", "directory", "empty", "text", "truncated-jpeg", "truncated-png", "npy-3d"],
)
def test_unreadable_files_raise_map_read_error_naming_sample_and_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(MapReadError, match=message) as info:
        read_map(path, sample_id="q9")
    err = info.value
    assert isinstance(err, SeLoInputError) and isinstance(err, ValueError)
    assert err.sample_id == "q9" and str(path) in str(err) and "q9" in str(err)


def test_unsupported_kinds_say_so(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    with pytest.raises(MapReadError, match="CMYK JPEG is not supported"):
        read_map(tmp_path / "cmyk.jpg")


def _png_with_chunk(src: bytes, kind: bytes, data: bytes) -> bytes:
    body = kind + data
    chunk = struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    return src[:33] + chunk + src[33:]


@pytest.fixture(scope="module")
def all_colours_png(tmp_path_factory) -> Path:
    """Every one of the 2**24 RGB colours once, as a 4096 x 4096 PNG."""
    v = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], -1).astype(np.uint8)
    path = tmp_path_factory.mktemp("colours") / "all.png"
    Image.fromarray(rgb.reshape(4096, 4096, 3)).save(path, compress_level=1)
    return path


def test_png_colour_rule_on_every_colour(all_colours_png):
    """The libpng rule, written out: gray pixels pass, others (9797 R + 19234 G + 3737 B) >> 15."""
    rgb = np.asarray(Image.open(all_colours_png)).astype(np.int64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    want = np.where((r == g) & (g == b), r, (9797 * r + 19234 * g + 3737 * b) >> 15)
    assert np.array_equal(read_map(all_colours_png), want)


@pytest.mark.parametrize("gamma", [None, 45455, 100000, 220000, "sRGB"])
def test_png_matches_opencv_on_every_colour(all_colours_png, tmp_path, gamma):
    cv2 = pytest.importorskip("cv2", reason="OpenCV is only needed to re-check the rule")
    path = all_colours_png
    if gamma is not None:
        raw = all_colours_png.read_bytes()
        path = tmp_path / "g.png"
        path.write_bytes(_png_with_chunk(raw, b"sRGB", b"\x00") if gamma == "sRGB"
                         else _png_with_chunk(raw, b"gAMA", struct.pack(">I", gamma)))
    assert np.array_equal(read_map(path), cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))


def test_huge_maps_pass_the_warning_and_name_the_limit(tmp_path, monkeypatch):
    import warnings

    Image.fromarray(np.zeros((40, 50), np.uint8)).save(tmp_path / "m.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # 2000 px: a "bomb" warning only
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_map(tmp_path / "m.png").shape == (40, 50)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 900)  # above twice the limit: an error
    with pytest.raises(MapReadError, match="MAX_IMAGE_PIXELS"):
        read_map(tmp_path / "m.png")


# ------------------------------------------------------------------------------------------
# not a regular file: refused before it can block (issue 13, item 3)
# ------------------------------------------------------------------------------------------

_READ_IN_CHILD = """
import sys
from selo_metrics import MapReadError, read_map
try:
    read_map(sys.argv[1], sample_id="q1")
except MapReadError as err:
    print(err)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_at_once_not_opened(tmp_path):
    """A FIFO without a writer blocks open(); read_map must refuse it before that."""
    fifo = tmp_path / "probmap_1.png"
    os.mkfifo(fifo)
    # in a child with a deadline: a regression hangs the child, not the suite
    proc = subprocess.run([sys.executable, "-c", _READ_IN_CHILD, str(fifo)],
                          capture_output=True, text=True, timeout=60, env=_child_env())
    assert proc.returncode == 0, proc.stderr
    assert "sample 'q1'" in proc.stdout and str(fifo) in proc.stdout
    assert "FIFO" in proc.stdout and "not a regular file" in proc.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_run_with_a_fifo_map_finishes_and_records_the_sample(tmp_path):
    from selo_metrics.samples import write_manifest

    Image.fromarray(np.full((40, 50), 200, np.uint8)).save(tmp_path / "good.png")
    os.mkfifo(tmp_path / "pipe.png")
    poly = [[[5, 5], [30, 5], [30, 30], [5, 30]]]
    write_manifest([{"id": "good", "map": "good.png", "polygons": poly},
                    {"id": "pipe", "map": "pipe.png", "polygons": poly}],
                   tmp_path / "m.jsonl")
    cmd = [sys.executable, "-m", "selo_metrics.cli", "score", str(tmp_path / "m.jsonl"),
           "--out", str(tmp_path / "run"), "--workers", "1", "--no-progress"]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_child_env())
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").open()]
    by_id = {r["id"]: r for r in rows}
    assert "rsu" in by_id["good"]
    assert by_id["pipe"]["error"]["type"] == "MapReadError"
    assert "FIFO" in by_id["pipe"]["error"]["message"]


def test_devices_and_sockets_are_refused(tmp_path):
    if os.path.exists("/dev/null"):
        with pytest.raises(MapReadError, match="character device, not a regular file"):
            read_map("/dev/null", sample_id=3)
    if hasattr(socket, "AF_UNIX"):
        path = tmp_path / "s.png"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))
            with pytest.raises(MapReadError, match="socket, not a regular file"):
                read_map(path)


def _child_env() -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    return env


# ------------------------------------------------------------------------------------------
# EXIF / TIFF orientation and damaged PNGs: as OpenCV reads them (issue 13, item 7)
# ------------------------------------------------------------------------------------------

# The orientation tag (EXIF / TIFF 6.0): where row 0 and column 0 of the stored image belong.
# Written here from the specification, independent of the reader's code.
_ORIENTED = {
    1: lambda a: a,
    2: lambda a: np.fliplr(a),  # mirrored
    3: lambda a: np.rot90(a, 2),  # upside down
    4: lambda a: np.flipud(a),
    5: lambda a: a.T,  # mirrored and rotated
    6: lambda a: np.rot90(a, -1),  # stored rotated 90 degrees counter-clockwise
    7: lambda a: np.rot90(a, 2).T,
    8: lambda a: np.rot90(a, 1),
}

_RNG = np.random.default_rng(20260607)
_GRAY = _RNG.integers(0, 256, (6, 9), dtype=np.uint8)
_RGB = _RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)


def _cv2_or_none():
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _oriented_file(tmp_path: Path, fmt: str, orientation: int) -> tuple[Path, np.ndarray]:
    """A file with that orientation tag, and the gray pixels as stored (before orienting)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.{fmt}"
    if fmt == "png":
        Image.fromarray(_GRAY).save(path, exif=exif)  # an eXIf chunk
        stored = _GRAY
    elif fmt == "rgb.png":
        Image.fromarray(_RGB).save(path, exif=exif)
        stored = read_map(_plain(tmp_path, _RGB, "png"))
    elif fmt == "tif":
        Image.fromarray(_GRAY).save(path, exif=exif)  # tag 274 in the IFD
        stored = _GRAY
    elif fmt == "rgb.tif":
        Image.fromarray(_RGB).save(path, exif=exif)
        stored = read_map(_plain(tmp_path, _RGB, "tif"))
    else:  # a JPEG: compare with the same JPEG without the tag (lossy pixels)
        Image.fromarray(_GRAY).save(path, exif=exif, quality=95)
        Image.fromarray(_GRAY).save(tmp_path / "plain.jpg", quality=95)
        stored = read_map(tmp_path / "plain.jpg")
    return path, stored


def _plain(tmp_path: Path, arr: np.ndarray, ext: str) -> Path:
    path = tmp_path / f"plain.{ext}"
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["png", "rgb.png", "tif", "rgb.tif", "jpg"])
def test_orientation_tag_is_applied_as_opencv_does(tmp_path, fmt, orientation):
    path, stored = _oriented_file(tmp_path, fmt, orientation)
    got = read_map(path)
    want = _ORIENTED[orientation](stored)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert got.flags.c_contiguous
    cv2 = _cv2_or_none()
    if cv2 is not None:
        decoded = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if decoded is None:
            # OpenCV 5.0 cannot read a TIFF whose orientation swaps the axes (an internal
            # assertion); 4.10 reads it, rotated: the reference here (docs/metrics.md)
            assert fmt.endswith("tif") and orientation >= 5 and cv2.__version__ >= "5"
        else:
            assert np.array_equal(got, decoded)


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def _exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()[6:]  # the eXIf chunk holds the TIFF header on, no "Exif\0\0"


def _damaged_pngs() -> dict[str, tuple[bytes, object]]:
    """name -> (file bytes, what OpenCV 5.0 gives: 'refused' or the orientation applied)."""
    buf = io.BytesIO()
    Image.fromarray(_GRAY).save(buf, format="PNG")
    raw = buf.getvalue()
    iend = raw.rindex(b"IEND") - 4
    idat = raw.index(b"IDAT") - 4
    (n,) = struct.unpack(">I", raw[idat:idat + 4])
    idat_end = idat + 12 + n
    bad_crc = b"\0\0\0\0"
    return {
        "no IEND": (raw[:iend], "refused"),
        "IEND cut short": (raw[:-2], "refused"),
        "IEND without its CRC": (raw[:-4], "refused"),
        "text chunk instead of IEND": (raw[:iend] + _chunk(b"tEXt", b"a\0b"), "refused"),
        "IDAT with a bad CRC": (raw[:idat_end - 4] + bad_crc + raw[idat_end:], "refused"),
        "unknown critical chunk": (raw[:33] + _chunk(b"ABCD", b"xyz") + raw[33:], "refused"),
        "chunk type not letters": (raw[:33] + _chunk(b"ab1d", b"xyz") + raw[33:], "refused"),
        "IEND with a bad CRC": (raw[:-4] + bad_crc, 1),
        "bytes after IEND": (raw + b"trailing", 1),
        "ancillary chunk with a bad CRC": (
            raw[:33] + _chunk(b"tEXt", b"a\0b")[:-4] + bad_crc + raw[33:], 1),
        "eXIf 6 before IDAT": (raw[:33] + _chunk(b"eXIf", _exif_bytes(6)) + raw[33:], 6),
        "eXIf 8 after IDAT": (raw[:iend] + _chunk(b"eXIf", _exif_bytes(8)) + raw[iend:], 8),
        "two eXIf: the first counts": (
            raw[:33] + _chunk(b"eXIf", _exif_bytes(6)) + _chunk(b"eXIf", _exif_bytes(3))
            + raw[33:], 6),
        "eXIf with a bad CRC is dropped": (
            raw[:33] + _chunk(b"eXIf", _exif_bytes(6))[:-4] + bad_crc + raw[33:], 1),
        "eXIf with an Exif prefix is invalid": (
            raw[:33] + _chunk(b"eXIf", b"Exif\0\0" + _exif_bytes(6)) + raw[33:], 1),
        "eXIf orientation 9 is ignored": (
            raw[:33] + _chunk(b"eXIf", _exif_bytes(9)) + raw[33:], 1),
        "eXIf garbage is ignored": (raw[:33] + _chunk(b"eXIf", b"MM\0*junk") + raw[33:], 1),
        "XMP orientation is ignored": (
            raw[:33] + _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0"
                              b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
                              b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
                              b' xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation='
                              b'"6"/></rdf:RDF></x:xmpmeta>') + raw[33:], 1),
    }


DAMAGED_PNGS = _damaged_pngs()


@pytest.mark.parametrize("name", list(DAMAGED_PNGS))
def test_damaged_and_tagged_pngs_read_exactly_as_opencv_reads_them(tmp_path, name):
    data, want = DAMAGED_PNGS[name]
    path = tmp_path / "m.png"
    path.write_bytes(data)
    if want == "refused":
        with pytest.raises(MapReadError, match="corrupt or truncated") as info:
            read_map(path, sample_id="s")
        assert info.value.sample_id == "s" and str(path) in str(info.value)
    else:
        assert np.array_equal(read_map(path), _ORIENTED[want](_GRAY))
    cv2 = _cv2_or_none()
    if cv2 is not None:
        decoded = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if want == "refused":
            assert decoded is None
        else:
            assert np.array_equal(read_map(path), decoded)


def test_jpeg_xmp_orientation_is_ignored_like_opencv(tmp_path):
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
           b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
           b' tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    Image.fromarray(_GRAY).save(tmp_path / "x.jpg", xmp=xmp, quality=95)
    Image.fromarray(_GRAY).save(tmp_path / "plain.jpg", quality=95)
    assert np.array_equal(read_map(tmp_path / "x.jpg"), read_map(tmp_path / "plain.jpg"))
    cv2 = _cv2_or_none()
    if cv2 is not None:
        assert np.array_equal(read_map(tmp_path / "x.jpg"),
                              cv2.imread(str(tmp_path / "x.jpg"), cv2.IMREAD_GRAYSCALE))


def test_tiff_xmp_orientation_is_ignored_like_opencv(tmp_path):
    from PIL import TiffImagePlugin

    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[700] = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/'
                 b'1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/'
                 b'tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    info.tagtype[700] = 1
    Image.fromarray(_GRAY).save(tmp_path / "x.tif", tiffinfo=info)
    assert np.array_equal(read_map(tmp_path / "x.tif"), _GRAY)
    cv2 = _cv2_or_none()
    if cv2 is not None:
        assert np.array_equal(_GRAY, cv2.imread(str(tmp_path / "x.tif"), cv2.IMREAD_GRAYSCALE))


# ------------------------------------------------------------------------------------------
# paths and .npy kinds (issue 13, item 13)
# ------------------------------------------------------------------------------------------


def test_bytes_paths_are_read_like_str_paths(tmp_path):
    Image.fromarray(_GRAY).save(tmp_path / "m.png")
    assert np.array_equal(read_map(os.fsencode(tmp_path / "m.png")), _GRAY)
    with pytest.raises(MapReadError, match="does not exist") as info:
        read_map(os.fsencode(tmp_path / "absent.png"), sample_id=4)
    assert info.value.sample_id == 4


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses non-UTF-8 file names")
def test_a_non_utf8_file_name_is_read_and_named_printably(tmp_path):
    raw = os.fsencode(tmp_path) + b"/m\xff.png"
    try:
        Image.fromarray(_GRAY).save(io.BytesIO(), format="PNG")
        with open(raw, "wb") as fh:
            Image.fromarray(_GRAY).save(fh, format="PNG")
    except OSError:
        pytest.skip("the file system refuses non-UTF-8 names")
    assert np.array_equal(read_map(raw), _GRAY)
    assert np.array_equal(read_map(os.fsdecode(raw)), _GRAY)
    with pytest.raises(MapReadError) as info:
        read_map(raw + b".absent", sample_id=5)
    str(info.value).encode("utf-8")  # printable: no lone surrogate in the message


@pytest.mark.parametrize("bad", [3, None, 2.5, ["a.png"]])
def test_a_path_of_the_wrong_type_is_refused(bad):
    with pytest.raises(MapReadError, match="map path must be") as info:
        read_map(bad, sample_id="s")
    assert info.value.sample_id == "s"


def test_a_nul_in_the_path_is_refused():
    with pytest.raises(MapReadError, match="NUL") as info:
        read_map("a\0b.png", sample_id="s")
    assert info.value.sample_id == "s"


def test_an_object_npy_is_named_as_such(tmp_path):
    np.save(tmp_path / "o.npy", np.array([[1, None], [2, 3]], dtype=object), allow_pickle=True)
    with pytest.raises(MapReadError, match="object array") as info:
        read_map(tmp_path / "o.npy", sample_id="s")
    assert "pickle" in str(info.value) and "corrupt" not in str(info.value)
