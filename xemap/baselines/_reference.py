"""Plain-numpy twins of the official SeLo generators, for tests and benchmarks.

These follow ``generate_selo.py`` and ``generate_selo_v2.py`` of the public
SemanticLocalizationMetrics repository (MIT) line by line, with the file-system round trip
(one JPEG per box, named ``r0_r1_c0_c1``) replaced by an ordered dictionary keyed by that
name, so that identical boxes count once, as they do there. The per-pixel division loop is
written as one element-wise division (the same IEEE operation on every pixel), the OpenCV
filters as their plain definitions: the exact median with replicated borders
(``cv2.medianBlur``) and OpenCV's bit-exact fixed-point Gaussian (``cv2.GaussianBlur`` on
uint8: a Q8 kernel made by error diffusion, reflect-101 borders, integer sums, rounding
shift). They are slow and meant for small scenes, or for a few sampled pixels of a large one.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "gaussian_kernel_q8",
    "gaussian_ref",
    "median_ref",
    "median_ref_at",
    "normalise_ref",
    "selo_boxes_ref",
    "selo_map_ref",
    "selo_v2_boxes_ref",
    "selo_v2_map_ref",
    "selo_v2_tiles_ref",
    "stack_ref",
]


def selo_boxes_ref(height: int, width: int, scales) -> np.ndarray:
    """The boxes ``split_image`` of ``generate_selo.py`` writes, in its loop order.

    The official names are kept: ``img_weight`` is the row count and ``img_height`` the
    column count; the outer loop runs over columns. Scales larger than the scene are the
    caller's business (the official code wraps to negative indices there).
    """
    img_weight, img_height = height, width
    names: dict[str, tuple[int, int, int, int]] = {}
    for step in scales:
        for gap in [step, 0.5 * step]:
            gap = int(gap)
            for h in range(0 + (step - gap), img_height, step):
                h_start, h_end = h, h + step
                if h_end >= img_height:
                    h_start, h_end = img_height - step, img_height
                for w in range(0 + (step - gap), img_weight, step):
                    w_start, w_end = w, w + step
                    if w_end >= img_weight:
                        w_start, w_end = img_weight - step, img_weight
                    name = f"{w_start}_{w_end}_{h_start}_{h_end}"
                    names.setdefault(name, (w_start, w_end, h_start, h_end))
    return np.array(list(names.values()), dtype=np.int64).reshape(-1, 4)


def stack_ref(height: int, width: int, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``heat_map / heat_num`` of the official code; 0 where no box covers a pixel."""
    heat_map = np.zeros([height, width], dtype=float)
    heat_num = np.zeros([height, width], dtype=float)
    for (r0, r1, c0, c1), s in zip(boxes.tolist(), np.asarray(scores, float).tolist(), strict=True):
        heat_map[r0:r1, c0:c1] += s
        heat_num[r0:r1, c0:c1] += 1
    covered = heat_num != 0.0
    heat_map[covered] = heat_map[covered] / heat_num[covered]
    return heat_map


def normalise_ref(heat_map: np.ndarray) -> np.ndarray:
    """Min-max then ``np.uint8(255 * x)``; a constant map gives zeros (0/0 is taken as 0)."""
    adaptive = heat_map - np.min(heat_map)
    top = np.max(adaptive)
    if top == 0:
        return np.zeros(heat_map.shape, np.uint8)
    return np.uint8(255 * (adaptive / top))


def median_ref_at(image: np.ndarray, ksize: int, rows, cols) -> np.ndarray:
    """The exact median of the ``ksize`` window at the given pixels, replicated borders."""
    r = ksize // 2
    h, w = image.shape
    out = np.empty(len(rows), np.uint8)
    for n, (i, j) in enumerate(zip(rows, cols, strict=True)):
        ri = np.clip(np.arange(i - r, i + r + 1), 0, h - 1)
        cj = np.clip(np.arange(j - r, j + r + 1), 0, w - 1)
        out[n] = np.partition(image[np.ix_(ri, cj)].ravel(), (ksize * ksize) // 2)[
            (ksize * ksize) // 2
        ]
    return out


def median_ref(image: np.ndarray, ksize: int) -> np.ndarray:
    """``cv2.medianBlur(image, ksize)`` by definition (every pixel; small images only)."""
    h, w = image.shape
    rows, cols = np.divmod(np.arange(h * w), w)
    return median_ref_at(image, ksize, rows, cols).reshape(h, w)


def gaussian_kernel_q8(n: int) -> np.ndarray:
    """OpenCV's Q8 fixed-point Gaussian kernel for ``ksize=n``, ``sigma=0`` (n odd)."""
    if n == 1:
        return np.array([256], np.int64)
    small = {3: [64, 128, 64], 5: [16, 64, 96, 64, 16], 7: [8, 28, 56, 72, 56, 28, 8]}
    small[9] = [4, 13, 30, 51, 60, 51, 30, 13, 4]
    if n in small:
        return np.array(small[n], np.int64)
    sx = n * 0.15 + 0.35
    scale2x = -0.125 / (sx * sx)
    n2 = (n - 1) // 2
    values = []
    total = 0.0
    x = 1 - n
    for _ in range(n2):
        t = math.exp(float(x * x) * scale2x)
        values.append(t)
        total += t
        x += 2
    total = total * 2 + 1.0
    mul1 = 1.0 / total
    out = np.zeros(n, np.int64)
    err = 0.0
    acc = 0
    for i in range(n2):
        adj = values[i] * mul1 * 256 + err
        v0 = round(adj)  # cvRound: half to even
        err = adj - v0
        out[i] = out[n - 1 - i] = v0
        acc += v0
    out[n2] = 256 - 2 * acc
    return out


def gaussian_ref(image: np.ndarray, ksize: int) -> np.ndarray:
    """``cv2.GaussianBlur(image, (ksize, ksize), 0)`` on uint8, bit for bit, in numpy."""
    h, w = image.shape
    kx = gaussian_kernel_q8(ksize if w > 1 else 1)
    ky = gaussian_kernel_q8(ksize if h > 1 else 1)
    rx, ry = kx.size // 2, ky.size // 2
    src = image.astype(np.int64)
    cols = _reflect101(np.arange(-rx, w + rx), w)
    rows = _reflect101(np.arange(-ry, h + ry), h)
    padded = src[:, cols]
    horiz = np.zeros((h, w), np.int64)
    for t in range(kx.size):
        horiz += kx[t] * padded[:, t : t + w]
    padded = horiz[rows, :]
    vert = np.zeros((h, w), np.int64)
    for t in range(ky.size):
        vert += ky[t] * padded[t : t + h, :]
    return np.clip((vert + 32768) >> 16, 0, 255).astype(np.uint8)


def _reflect101(p: np.ndarray, n: int) -> np.ndarray:
    """OpenCV ``borderInterpolate(p, n, BORDER_REFLECT_101)``, element-wise."""
    p = np.array(p, np.int64)
    if n == 1:
        return np.zeros_like(p)
    while True:
        low, high = p < 0, p >= n
        if not (low.any() or high.any()):
            return p
        p[low] = -p[low]
        p[high] = 2 * n - p[high] - 2


def selo_map_ref(height, width, boxes, scores, median) -> np.ndarray:
    """SeLo v1 from given boxes and scores: stack, normalise, median (small scenes)."""
    return median_ref(normalise_ref(stack_ref(height, width, boxes, scores)), median)


def selo_v2_tiles_ref(height: int, width: int, tile: int = 512) -> np.ndarray:
    """The tiles ``split_image`` of ``generate_selo_v2.py`` writes, row-major."""
    img_height, img_weight = height, width
    step = tile
    names: dict[str, tuple[int, int, int, int]] = {}
    for h in range(0, img_height, step):
        h_start, h_end = h, h + step
        if h_end >= img_height:
            h_start, h_end = img_height - step, img_height
        for w in range(0, img_weight, step):
            w_start, w_end = w, w + step
            if w_end >= img_weight:
                w_start, w_end = img_weight - step, img_weight
            names.setdefault(
                f"{h_start}_{h_end}_{w_start}_{w_end}", (h_start, h_end, w_start, w_end)
            )
    return np.array(list(names.values()), dtype=np.int64).reshape(-1, 4)


def selo_v2_boxes_ref(height, width, kept_tiles, tile=512, sizes=(64, 128)) -> np.ndarray:
    """The anchor boxes ``get_img_vectors`` of ``generate_selo_v2.py`` writes."""
    img_height, img_weight = height, width
    names: dict[str, tuple[int, int, int, int]] = {}
    cut_img_size = tile
    for h_start, h_end, w_start, w_end in np.asarray(kept_tiles).tolist():
        p1 = [int(h_start), int(w_start)]
        p2 = [int(h_start), int(w_end)]
        p3 = [int(h_end), int(w_start)]
        p4 = [int(h_end), int(w_end)]
        p5 = [int(h_start) + cut_img_size * 1 / 4, int(w_start) + cut_img_size * 1 / 4]
        p6 = [int(h_start) + cut_img_size * 1 / 4, int(w_start) + cut_img_size * 3 / 4]
        p7 = [int(h_start) + cut_img_size * 3 / 4, int(w_start) + cut_img_size * 1 / 4]
        p8 = [int(h_start) + cut_img_size * 3 / 4, int(w_start) + cut_img_size * 3 / 4]
        p9 = [int(h_start) + cut_img_size * 1 / 2, int(w_start) + cut_img_size * 1 / 2]
        for h, w in [p1, p2, p3, p4, p5, p6, p7, p8, p9]:
            for size in sizes:
                h_start1 = int(h - size if h - size > 0 else 0)
                h_end1 = int(
                    h_start1 + size * 2 if h_start1 + size * 2 < img_height else img_height
                )
                w_start1 = int(w - size if w - size > 0 else 0)
                w_end1 = int(
                    w_start1 + size * 2 if w_start1 + size * 2 < img_weight else img_weight
                )
                names.setdefault(
                    f"{h_start1}_{h_end1}_{w_start1}_{w_end1}",
                    (h_start1, h_end1, w_start1, w_end1),
                )
    return np.array(list(names.values()), dtype=np.int64).reshape(-1, 4)


def selo_v2_map_ref(height, width, score_boxes, top=0.15, tile=512, sizes=(64, 128), ksize=255):
    """SeLo v2 end to end with a scorer (small scenes): tiles, top-k, boxes, stack, blur."""
    tiles = selo_v2_tiles_ref(height, width, tile)
    sim1 = np.asarray(score_boxes(tiles), float)
    order = np.argsort(sim1)
    select = order[-(int(len(order) * top) + 1) :]
    boxes = selo_v2_boxes_ref(height, width, tiles[select], tile, sizes)
    sims = np.asarray(score_boxes(boxes), float)
    heat = stack_ref(
        height, width, np.concatenate([tiles[select], boxes]), np.concatenate([sim1[select], sims])
    )
    return gaussian_ref(normalise_ref(heat), ksize)
