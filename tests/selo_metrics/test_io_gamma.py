"""read_map on colour PNGs with a gAMA chunk: OpenCV (libpng) on a sweep of gamma values,
around the edges of libpng's "insignificant gamma" window (95000-105000, fixed point) and of
its reciprocals, where one unit decides whether the gamma tables apply."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image

from selo_metrics import read_map
from tests.selo_metrics.test_io import _png_with_chunk

# the window's edges and the values whose reciprocal (1e10 / g, rounded) lands on them; 1-3:
# a reciprocal beyond int32, which libpng makes 0 (all colours then read 255); 1011: read back
# from Pillow's float as 1010.99..., so it must be rounded, not truncated; 7531: its tables
# change when the reciprocal is truncated rather than rounded
GAMMAS = [1, 2, 3, 5, 1011, 7531, 20000, 45454, 45455, 45456, 94999, 95000, 95001, 95237, 95238,
          95239, 99999, 100000, 100001, 104999, 105000, 105001, 105262, 105263, 105264, 220000,
          1000000]


@pytest.fixture(scope="module")
def colour_png(tmp_path_factory):
    """Random colours (every channel value ~1000 times) plus every gray level."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (512, 512, 3)).astype(np.uint8)
    rgb[0, :256] = np.arange(256)[:, None]
    path = tmp_path_factory.mktemp("gamma") / "rgb.png"
    Image.fromarray(rgb).save(path, compress_level=1)
    return path.read_bytes()


@pytest.mark.parametrize("gamma", GAMMAS)
def test_png_gamma_matches_opencv(colour_png, tmp_path, gamma):
    cv2 = pytest.importorskip("cv2", reason="OpenCV is the reference for PNG gamma")
    path = tmp_path / f"g{gamma}.png"
    path.write_bytes(_png_with_chunk(colour_png, b"gAMA", struct.pack(">I", gamma)))
    want = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(read_map(path), want)


def test_the_file_gamma_is_the_chunks_integer():
    """Pillow hands the gAMA chunk's integer ``g`` back as ``g / 100000.0``; libpng works with
    ``g`` itself. For some ``g`` the float times 100000 falls just below the integer (1011 ->
    1010.99..., 57000 -> 56999.99...), so truncating it would take another gamma."""
    from selo_metrics._png_gamma import _png_file_gamma

    assert [_png_file_gamma({"gamma": g / 100000.0}) for g in range(1, 300001)] == list(
        range(1, 300001))
    assert _png_file_gamma({}) == 0
    assert _png_file_gamma({"gamma": 0.7, "srgb": 0}) == 45455  # sRGB overrides gAMA
