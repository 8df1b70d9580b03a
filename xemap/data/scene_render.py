"""Drawing the synthetic scenes: object placement, polygons, a textured terrain, rendering.

The geometry and pixels of :mod:`xemap.data.synthetic`; nothing here knows about queries.
Everything is a pure function of the ``numpy.random.Generator`` it is given.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["COLORS", "SHAPES", "place", "polygon", "render", "texture"]

SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 80, 230),
    "yellow": (235, 215, 40),
}


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """An earthy background ``float64 (size, size, 3)``: smooth noise, stripes, pixel grain.

    Examples
    --------
    >>> texture(np.random.default_rng(0), 16).shape
    (16, 16, 3)
    """
    base = np.array(rng.choice([(110, 100, 80), (90, 110, 80), (120, 115, 105), (80, 90, 95)]))
    img = np.zeros((size, size, 3), dtype=np.float64) + base
    # smooth noise: upsampled coarse random grid
    for cells, amp in ((4, 28.0), (16, 14.0)):
        coarse = rng.normal(0.0, 1.0, (cells + 1, cells + 1, 3))
        idx = np.linspace(0, cells, size)
        i0 = np.floor(idx).astype(int).clip(0, cells - 1)
        f = idx - i0
        rows = coarse[i0] * (1 - f)[:, None, None] + coarse[i0 + 1] * f[:, None, None]
        grid = rows[:, i0] * (1 - f)[None, :, None] + rows[:, i0 + 1] * f[None, :, None]
        img += amp * grid
    # stripes (fields, roads) at a random angle
    ang = rng.uniform(0, math.pi)
    period = rng.uniform(size / 10, size / 4)
    yy, xx = np.mgrid[0:size, 0:size]
    phase = (xx * math.cos(ang) + yy * math.sin(ang)) / period * 2 * math.pi
    img += 14.0 * np.sign(np.sin(phase))[..., None]
    img += rng.normal(0.0, 8.0, img.shape)
    return np.clip(img, 0, 255)


def polygon(shape: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    """The outline of a ``shape`` of radius ``r`` centred on ``(cx, cy)``, rotated by ``rot``.

    Examples
    --------
    >>> len(polygon("square", 10, 10, 4, 0.0)), len(polygon("circle", 10, 10, 4, 0.0))
    (4, 24)
    """
    if shape == "square":
        angles = [rot + math.pi / 4 + k * math.pi / 2 for k in range(4)]
        rr = r
    elif shape == "triangle":
        angles = [rot - math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
        rr = r * 1.15
    elif shape == "circle":
        angles = [k * 2 * math.pi / 24 for k in range(24)]
        rr = r * 0.85
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return [(round(cx + rr * math.cos(a), 2), round(cy + rr * math.sin(a), 2)) for a in angles]


def place(
    rng: np.random.Generator, size: int, n: int, radius: tuple[float, float]
) -> list[tuple[float, float, float]]:
    """Up to ``n`` non-overlapping discs ``(cx, cy, r)``, at least ``0.04 * size`` apart.

    Radii are uniform in ``radius`` (fractions of ``size``); fewer than ``n`` come back when
    2000 random tries do not fit them.

    Examples
    --------
    >>> len(place(np.random.default_rng(0), 64, 5, (0.06, 0.09)))
    5
    """
    out: list[tuple[float, float, float]] = []
    tries = 0
    while len(out) < n and tries < 2000:
        tries += 1
        r = rng.uniform(*radius) * size
        cx, cy = rng.uniform(r + 2, size - r - 2, 2)
        if all(math.hypot(cx - x, cy - y) > r + q + 0.04 * size for x, y, q in out):
            out.append((float(cx), float(cy), float(r)))
    return out


def render(rng: np.random.Generator, size: int, objects: list) -> np.ndarray:
    """The scene ``uint8 (size, size, 3)``: the terrain, then each object's polygon filled
    with its colour (+- 20 per channel of jitter) and a dark outline.

    Examples
    --------
    >>> render(np.random.default_rng(0), 32, []).dtype
    dtype('uint8')
    """
    from PIL import Image, ImageDraw

    img = Image.fromarray(texture(rng, size).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for o in objects:
        jitter = rng.integers(-20, 21, 3)
        color = tuple(int(c) for c in np.clip(np.array(COLORS[o.color]) + jitter, 0, 255))
        draw.polygon(list(o.polygon), fill=color, outline=(20, 20, 20))
    return np.asarray(img, dtype=np.uint8).copy()
