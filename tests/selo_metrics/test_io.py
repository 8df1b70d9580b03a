"""read_map: the very pixels of cv2.imread(path, IMREAD_GRAYSCALE), without OpenCV."""

from __future__ import annotations

import json
import struct
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
