"""libpng's colour-to-gray conversion as OpenCV configures it, gamma tables included.

OpenCV reads a colour PNG as gray with ``png_set_rgb_to_gray(png, 1, 0.299, 0.587)``: libpng
turns the weights into 15-bit fixed point (9797, 19234, 3737) and, when the file's gamma
(``gAMA``, or ``sRGB``) is significant, linearises through its 8-bit gamma tables, weights
with rounding and re-encodes. The arithmetic of the tables (``png_reciprocal``,
``png_build_8bit_table``, the 95000-105000 window of ``png_gamma_significant``) is libpng's;
the weighting itself is the numba kernel ``png_rgb_to_gray``. Used by :mod:`selo_metrics.io`.
"""

from __future__ import annotations

from math import floor

import numpy as np

from ._kernels.color import png_rgb_to_gray

# libpng: png_set_rgb_to_gray(png, 1, 0.299, 0.587) -> 15-bit weights (truncated division)
_PNG_R = 29900 * 32768 // 100000  # 9797
_PNG_G = 58700 * 32768 // 100000  # 19234
_PNG_B = 32768 - _PNG_R - _PNG_G  # 3737
_IDENTITY = np.arange(256, dtype=np.uint8)


def _png_file_gamma(info: dict) -> int:
    """The file gamma as libpng holds it (fixed point, 1.0 = 100000), 0 when unset."""
    if "srgb" in info:
        return 45455  # PNG_GAMMA_sRGB_INVERSE: sRGB overrides gAMA
    if "gamma" in info:
        return round(float(info["gamma"]) * 100000)
    return 0


def _png_reciprocal(a: float) -> int:
    """libpng's ``png_reciprocal``: 0 where the fixed-point result overflows int32 (or a = 0)."""
    r = floor(1e10 / a + 0.5) if a else 0
    return r if -(2**31) <= r <= 2**31 - 1 else 0


def _png_significant(g: int) -> bool:
    return g < 95000 or g > 105000


def _png_gamma_table(gamma: int) -> np.ndarray:
    """libpng's ``png_build_8bit_table``: ``floor(255 * (i / 255) ** (g / 1e5) + .5)``."""
    table = np.arange(256, dtype=np.uint8)
    if _png_significant(gamma):
        for i in range(1, 255):
            table[i] = floor(255 * (i / 255.0) ** (gamma * 0.00001) + 0.5)
    return table


def _png_rgb_to_gray(rgb: np.ndarray, file_gamma: int) -> np.ndarray:
    """libpng's ``png_do_rgb_to_gray`` for 8-bit RGB(A), as OpenCV configures it."""
    to_1 = from_1 = _IDENTITY
    use_gamma = False
    if file_gamma:
        screen = _png_reciprocal(file_gamma)  # "assume the output matches the input"
        use_gamma = _png_significant(file_gamma) or _png_significant(screen)
        if use_gamma:
            to_1 = _png_gamma_table(_png_reciprocal(file_gamma))
            from_1 = _png_gamma_table(_png_reciprocal(screen))
            # gray pixels: gamma_table of file * screen gamma, which is ~1.0: identity
    return png_rgb_to_gray(np.ascontiguousarray(rgb), to_1, from_1, use_gamma)
