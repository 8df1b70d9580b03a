"""The REFER pickle reader (refuses code, runs none) and the COCO segmentation decoders."""

from __future__ import annotations

import math
import os
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from xemap.data.rrsis import (
    DatasetError,
    UnsafePickleError,
    coco_polygon_mask,
    load_plain_pickle,
    rle_counts,
    rle_mask,
    segmentation_mask,
)

REFS = [
    {"ref_id": 3, "ann_id": 30, "image_id": 1, "category_id": 2, "split": "test",
     "sentences": [{"raw": "the red car", "sent": "the red car", "sent_id": 7,
                    "tokens": ["the", "red", "car"]}], "sent_ids": [7], "score": 0.5,
     "flag": True, "none": None, "pair": (1, 2)},
]  # fmt: skip


# --- the plain-container unpickler ---------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_refs_load_in_every_protocol(protocol):
    assert load_plain_pickle(pickle.dumps(REFS, protocol=protocol)) == REFS


def test_python2_byte_strings_read_as_text():
    # protocol 0 as Python 2 writes a list holding the str 'abc' (opcode STRING)
    assert load_plain_pickle(b"(lp0\nS'abc'\np1\na.") == ["abc"]


class _Payload:
    """Unpickling this runs ``os.mkdir(path)``: the side effect the reader must not allow."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_malicious_pickle_is_refused_without_running(tmp_path, protocol):
    target = tmp_path / "pwned"
    refs = [dict(REFS[0]), {"ref_id": 4, "sentences": [_Payload(str(target))]}]
    data = pickle.dumps(refs, protocol=protocol)
    refs_file = tmp_path / "refs(unc).p"
    refs_file.write_bytes(data)
    with pytest.raises(UnsafePickleError, match=r"nothing of it was run.*opcode") as info:
        load_plain_pickle(refs_file)
    assert not target.exists()  # no side effect
    assert "refs(unc).p" in str(info.value)
    assert isinstance(info.value, ValueError)
    # the payload is real: a plain pickle.loads does run it
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(str(control)), protocol=protocol))
    assert control.is_dir()


@pytest.mark.parametrize(
    ("stream", "opcode"),
    [
        (b"cos\nmkdir\n(S'x'\ntR.", "GLOBAL 'os mkdir'"),  # GLOBAL + REDUCE
        (b"(S'x'\nios\nmkdir\n.", "INST"),  # INST imports and calls
        (b"\x80\x04\x8c\x02os\x8c\x05mkdir\x93.", "STACK_GLOBAL"),
        (b"(cos\nmkdir\nS'x'\no.", "GLOBAL"),  # OBJ
        (b"\x80\x02K\x01\x85\x81.", "NEWOBJ"),  # NEWOBJ on a non-class: still refused
        (b"}(U\x01a\x86b.", "BUILD"),
        (b"\x80\x02\x82\x01.", "EXT1"),
        (b"(I1\nP1\n.", "PERSID"),
        (b"\x80\x04\x8f(K\x01\x90.", "EMPTY_SET"),  # a set: not a plain container here
        (b"\x80\x03C\x02ab.", "SHORT_BINBYTES"),
    ],
)
def test_every_code_running_opcode_is_refused(tmp_path, stream, opcode):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(UnsafePickleError, match=opcode):
            load_plain_pickle(stream)
        assert list(tmp_path.iterdir()) == []
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("stream", [b"", b"\x80\x04]", b"not a pickle", b"(lp0\na."])
def test_corrupt_pickles_are_refused(stream):
    with pytest.raises(UnsafePickleError):
        load_plain_pickle(stream)


def test_missing_pickle_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        load_plain_pickle(tmp_path / "refs(unc).p")


# --- RLE --------------------------------------------------------------------------------------


def coco_encode(counts):
    """COCO's ``rleToString``, transcribed from ``maskApi.c`` for the test."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if ch & 0x10 else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def runs_of(mask):
    """Column-major runs, background first, from the mask (numpy, independent of the code)."""
    flat = mask.T.reshape(-1).astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] == 1 else runs


def test_compressed_counts_hand_made_case():
    # 0, 40 (two chars: 8 | 32, then 1 << 5), 2, and 1 stored as 1 - 40 = -39 (two chars)
    assert rle_counts("0X12iN") == [0, 40, 2, 1]
    assert coco_encode([0, 40, 2, 1]) == "0X12iN"


def test_rle_hand_made_mask():
    # 2 x 3, column-major: (0,0)=0, (1,0)=1, (0,1)=1 | (1,1)=0, (0,2)=0, (1,2)=0
    m = rle_mask({"size": [2, 3], "counts": [1, 2, 3]})
    assert m.tolist() == [[False, True, False], [True, False, False]]


@settings(max_examples=80, deadline=None)
@given(mask=arrays(np.bool_, st.tuples(st.integers(1, 30), st.integers(1, 30))))
def test_rle_compressed_and_uncompressed_decode_the_mask(mask):
    runs = runs_of(mask)
    h, w = mask.shape
    np.testing.assert_array_equal(rle_mask({"size": [h, w], "counts": runs}), mask)
    np.testing.assert_array_equal(rle_mask({"size": [h, w], "counts": coco_encode(runs)}), mask)
    b = {"size": [h, w], "counts": coco_encode(runs).encode()}
    np.testing.assert_array_equal(rle_mask(b), mask)


@pytest.mark.parametrize(
    ("rle", "match"),
    [
        ({"size": [2, 2], "counts": [1, 2]}, "cover 3 pixels"),
        ({"size": [2, 2], "counts": "0X~"}, "invalid character|end inside"),
        ({"size": [2, 2], "counts": "0X"}, "end inside"),
        ({"counts": [4]}, "size"),
        ({"size": [2, 2], "counts": [1.5, 2.5]}, "list of ints"),
    ],
)
def test_bad_rle(rle, match):
    with pytest.raises(DatasetError, match=match):
        rle_mask(rle)


# --- the COCO polygon rasteriser ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(-5, 25),
    y=st.integers(-5, 25),
    bw=st.integers(1, 15),
    bh=st.integers(1, 15),
    h=st.integers(1, 20),
    w=st.integers(1, 20),
)
def test_integer_box_covers_its_w_by_h_pixels(x, y, bw, bh, h, w):
    """pycocotools: a box polygon [x, y, x + w, ...] covers rows y..y+h-1, cols x..x+w-1."""
    m = coco_polygon_mask([x, y, x + bw, y, x + bw, y + bh, x, y + bh], h, w)
    want = np.zeros((h, w), bool)
    want[max(y, 0) : max(y + bh, 0), max(x, 0) : max(x + bw, 0)] = True
    np.testing.assert_array_equal(m, want)


def test_polygon_mask_is_the_pixel_centres_inside_away_from_the_boundary():
    """Independent check: shapely decides whether each pixel centre is inside."""
    shapely = pytest.importorskip("shapely")
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(40):
        k = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(3, 12, k)
        pts = np.c_[15 + r * np.cos(ang), 14 + r * np.sin(ang)]  # star-shaped: simple
        poly = shapely.Polygon(pts)
        m = coco_polygon_mask(pts.reshape(-1).tolist(), 30, 32)
        yy, xx = np.mgrid[0:30, 0:32]
        centres = shapely.points(xx.ravel() + 0.5, yy.ravel() + 0.5)
        inside = shapely.contains(poly, centres).reshape(30, 32)
        far = (shapely.distance(poly.boundary, centres) > 0.5).reshape(30, 32)
        np.testing.assert_array_equal(m[far], inside[far])
        checked += int(far.sum())
    assert checked > 20000


def rle_fr_poly_ref(xy, h, w):
    """maskApi.c's rleFrPoly, transcribed loop by loop with C's int() truncation, and decoded."""
    k = len(xy) // 2
    scale = 5.0
    x = [int(scale * xy[2 * j] + 0.5) for j in range(k)] + [int(scale * xy[0] + 0.5)]
    y = [int(scale * xy[2 * j + 1] + 0.5) for j in range(k)] + [int(scale * xy[1] + 0.5)]
    u, v = [], []
    for j in range(k):
        xs, xe, ys, ye = x[j], x[j + 1], y[j], y[j + 1]
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx >= dy:
            s = (ye - ys) / dx if dx else float("nan")
            for d in range(dx + 1):
                t = dx - d if flip else d
                u.append(t + xs)
                v.append(int(ys + s * t + 0.5) if dx else None)  # NaN: never read
        else:
            s = (xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v.append(t + ys)
                u.append(int(xs + s * t + 0.5))
    xb, yb = [], []
    for j in range(1, len(u)):
        if u[j] != u[j - 1]:
            xd = float(u[j] if u[j] < u[j - 1] else u[j] - 1)
            xd = (xd + 0.5) / scale - 0.5
            if math.floor(xd) != xd or xd < 0 or xd > w - 1:
                continue
            yd = float(v[j] if v[j] < v[j - 1] else v[j - 1])
            yd = (yd + 0.5) / scale - 0.5
            yd = 0 if yd < 0 else (h if yd > h else yd)
            xb.append(int(xd))
            yb.append(math.ceil(yd))
    a = sorted([xb[j] * h + yb[j] for j in range(len(xb))] + [h * w])
    prev = 0
    for j in range(len(a)):
        a[j], prev = a[j] - prev, a[j]
    b = [a[0]]
    j = 1
    while j < len(a):
        if a[j] > 0:
            b.append(a[j])
            j += 1
        else:
            j += 1
            if j < len(a):
                b[-1] += a[j]
                j += 1
    flat = np.zeros(h * w, bool)
    pos, val = 0, False
    for c in b:
        flat[pos : pos + c] = val
        pos, val = pos + c, not val
    return flat.reshape(w, h).T


def test_triangle_hand_made_case():
    # worked through maskApi.c by hand: upsampled (0,0) (10,0) (0,10); column crossings at
    # (x0, y0), (x1, y0) on the top edge, (x1, y0), (x0, y1) on the diagonal (the lower of
    # the two v's: 2 -> row 0, 7 -> row 1): only pixel (0, 0) is in
    want = np.zeros((3, 3), bool)
    want[0, 0] = True
    np.testing.assert_array_equal(coco_polygon_mask([0, 0, 2, 0, 0, 2], 3, 3), want)
    np.testing.assert_array_equal(rle_fr_poly_ref([0, 0, 2, 0, 0, 2], 3, 3), want)


coords = st.floats(-6, 26, allow_nan=False).map(lambda v: round(v, 2))


@settings(max_examples=150, deadline=None)
@given(
    pts=st.lists(st.tuples(coords, coords), min_size=3, max_size=7),
    h=st.integers(1, 20),
    w=st.integers(1, 20),
)
def test_polygon_mask_equals_the_loop_transcription(pts, h, w):
    """Any polygon: off the image, self-crossing, repeated vertices, negative coordinates."""
    flat = [c for p in pts for c in p]
    np.testing.assert_array_equal(coco_polygon_mask(flat, h, w), rle_fr_poly_ref(flat, h, w))


def test_polygon_errors():
    with pytest.raises(DatasetError, match="flat list"):
        coco_polygon_mask([0, 0, 4, 0, 4], 5, 5)
    with pytest.raises(DatasetError, match="finite"):
        coco_polygon_mask([0, 0, 4, 0, 4, float("nan")], 5, 5)


# --- one annotation's mask: union or REFER ---------------------------------------------------

A = [0, 0, 4, 0, 4, 4, 0, 4]  # rows 0-3, cols 0-3
B = [2, 0, 6, 0, 6, 4, 2, 4]  # rows 0-3, cols 2-5
C = [3, 0, 8, 0, 8, 4, 3, 4]  # rows 0-3, cols 3-7


def test_union_and_refer_overlap_rules():
    union = segmentation_mask([A, B, C], (4, 8))
    refer = segmentation_mask([A, B, C], (4, 8), overlap="refer")
    assert union[0].tolist() == [1, 1, 1, 1, 1, 1, 1, 1]
    # coverage per column: 1 1 2 3 2 2 1 1 -> REFER keeps only the columns covered once
    assert refer[0].tolist() == [1, 1, 0, 0, 0, 0, 1, 1]
    assert union.dtype == refer.dtype == np.uint8


def test_refer_reads_four_number_parts_as_boxes():
    # pycocotools' frPyObjects: a first part of 4 numbers makes every part an [x, y, w, h] box
    m = segmentation_mask([[1, 0, 2, 3]], (4, 4), overlap="refer")
    assert m.tolist() == [[0, 1, 1, 0]] * 3 + [[0, 0, 0, 0]]
    with pytest.raises(DatasetError, match="3 points"):
        segmentation_mask([[1, 0, 2, 3]], (4, 4))


def test_rle_segmentations_single_and_list():
    mask = np.zeros((3, 4), bool)
    mask[1, 1:3] = True
    rle = {"size": [3, 4], "counts": coco_encode(runs_of(mask))}
    np.testing.assert_array_equal(segmentation_mask(rle, (3, 4)), mask)
    both = segmentation_mask([rle, rle], (3, 4), overlap="refer")
    assert both.sum() == 0  # the same part twice sums to 2: REFER drops it
    with pytest.raises(DatasetError, match="differs"):
        segmentation_mask(rle, (4, 4))
    with pytest.raises(DatasetError, match="must be polygons"):
        segmentation_mask("a string", (3, 4))
    with pytest.raises(DatasetError, match="overlap rule"):
        segmentation_mask(rle, (3, 4), overlap="max")
