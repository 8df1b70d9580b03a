"""The RRSIS metrics in runs: the RMSIN fixed-size protocol, rows, summaries, tables, CLI."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from selo_metrics import SeLoAccumulator, SeLoInputError, gt_mask, load_samples
from selo_metrics._reference.rrsis import counts_ref, rmsin_loop
from selo_metrics.cli import main
from selo_metrics.journal import RunDirError
from selo_metrics.report import format_attribute_table, format_compare, format_table
from selo_metrics.rrsis_run import (
    parse_metrics,
    resize_bilinear,
    resize_nearest,
    rrsis_row,
    rrsis_stats,
)
from selo_metrics.runner import load_run, score_samples

# --- the RMSIN protocol's two resizes, against references written from their definitions --


def nearest_ref(n_in, n_out):
    """Pillow's ImagingScaleAffine: source = int(x), x = 0.5 * s, then x += s per pixel."""
    s, x, out = n_in / n_out, 0.5 * (n_in / n_out), []
    for _ in range(n_out):
        out.append(min(int(x), n_in - 1))
        x += s
    return np.array(out)


@settings(max_examples=80, deadline=None)
@given(h=st.integers(1, 900), w=st.integers(1, 900), size=st.integers(1, 500))
def test_nearest_is_pillows_mapping(h, w, size):
    rng = np.random.default_rng(h * 1000 + w)
    mask = rng.integers(0, 2, (h, w), dtype=np.uint8)
    want = mask[nearest_ref(h, size)][:, nearest_ref(w, size)]
    np.testing.assert_array_equal(resize_nearest(mask, size), want)


def bilinear_ref(p, size):
    """torch's upsample_bilinear2d with align_corners=True, one output pixel at a time."""
    h, w = p.shape
    out = np.empty((size, size))
    sy = (h - 1) / (size - 1) if size > 1 else 0.0
    sx = (w - 1) / (size - 1) if size > 1 else 0.0
    for oy in range(size):
        fy = oy * sy
        y0 = int(fy)
        y1 = y0 + (1 if y0 < h - 1 else 0)
        ly1 = fy - y0
        ly0 = 1.0 - ly1
        for ox in range(size):
            fx = ox * sx
            x0 = int(fx)
            x1 = x0 + (1 if x0 < w - 1 else 0)
            lx1 = fx - x0
            lx0 = 1.0 - lx1
            out[oy, ox] = ly0 * (lx0 * p[y0, x0] + lx1 * p[y0, x1]) + ly1 * (
                lx0 * p[y1, x0] + lx1 * p[y1, x1]
            )
    return out


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    size=st.integers(1, 30),
    kind=st.sampled_from(["uint8", "float64", "bool"]),
)
def test_bilinear_equals_the_formula(h, w, size, kind):
    rng = np.random.default_rng(h * 100 + w)
    gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
    pred = {"uint8": gray, "float64": gray / 255.0, "bool": gray > 127}[kind]
    prob = {"uint8": gray / 255.0, "float64": gray / 255.0, "bool": (gray > 127) * 1.0}[kind]
    np.testing.assert_array_equal(resize_bilinear(pred, size), bilinear_ref(prob, size))


def test_bilinear_matches_torch_interpolate_align_corners():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for h, w, size in [(800, 801, 480), (787, 800, 480), (50, 13, 480), (480, 480, 480)]:
        p = rng.random((h, w))
        t = torch.nn.functional.interpolate(
            torch.from_numpy(p)[None, None], size=(size, size), mode="bilinear", align_corners=True
        )[0, 0].numpy()
        np.testing.assert_allclose(resize_bilinear(p, size), t, rtol=0, atol=4e-16)


def rmsin_protocol_ref(gray, gt, size):
    """RMSIN test.py at size x size: GT via Pillow nearest, prediction bilinear, > 0.5."""
    rows, cols = nearest_ref(gt.shape[0], size), nearest_ref(gt.shape[1], size)
    target = gt[rows][:, cols]
    fg = bilinear_ref(gray / 255.0, size) > 0.5
    return counts_ref(fg, target)


@pytest.mark.parametrize(
    ("h", "w", "gh", "gw", "size"),
    [(40, 41, 40, 40, 24), (37, 40, 40, 40, 24), (30, 30, 30, 30, 30)],
)
def test_fixed_size_row_equals_the_rmsin_protocol(h, w, gh, gw, size):
    """A map one row taller than its GT (RRSIS-D's 800 x 801) is scored as RMSIN does."""
    rng = np.random.default_rng(h + w)
    gray = np.kron(rng.integers(0, 256, (h // 4 + 1, w // 4 + 1)), np.ones((4, 4)))[:h, :w]
    gray = gray.astype(np.uint8)
    gt = np.zeros((gh, gw), bool)
    gt[5:25, 8:30] = True
    row = rrsis_row(gray, gt, size=size)
    inter, union = rmsin_protocol_ref(gray, gt, size)
    assert (row["inter"], row["union"]) == (inter, union)
    assert row["iou"] == inter / union
    with pytest.raises(SeLoInputError, match="differ"):  # at its own resolution: refused
        rrsis_row(gray, gt) if (h, w) != (gh, gw) else rrsis_row(gray, gt[:-1])


def test_fixed_size_with_polygons_rasterises_at_the_map_shape():
    gray = np.zeros((40, 50), np.uint8)
    gray[10:30, 10:40] = 255
    poly = [[[10, 10], [39, 10], [39, 29], [10, 29]]]
    row = rrsis_row(gray, poly, size=20)
    mask = gt_mask([np.array(poly[0], float)], (40, 50))
    assert (row["inter"], row["union"]) == rmsin_protocol_ref(gray, mask, 20)


def test_fixed_size_keeps_the_input_checks():
    with pytest.raises(SeLoInputError, match="only 0 and 1"):
        rrsis_row(np.eye(5, dtype=np.uint8), np.eye(5, dtype=bool), size=3)
    with pytest.raises(SeLoInputError, match="NaN"):
        rrsis_row(np.full((5, 5), np.nan), np.eye(5, dtype=bool), size=3)
    with pytest.raises(SeLoInputError, match=">= 1"):
        rrsis_row(np.zeros((5, 5)), np.eye(5, dtype=bool), size=0)
    m = np.eye(5, dtype=bool)
    assert rrsis_row(m, m, size=5) == {"iou": 1.0, "inter": 5, "union": 5}


def test_parse_metrics():
    assert parse_metrics("selo") == ("selo",)
    assert parse_metrics(" rrsis ,selo") == ("selo", "rrsis")
    for bad in ("", "iou", "selo,miou"):
        with pytest.raises(ValueError, match="metric family"):
            parse_metrics(bad)


# --- runs ------------------------------------------------------------------------------------


def make_rrsis_set(root, n=12):
    """Maps (PNG), GT masks (PNG 0/255) and polygon GT; a manifest; the expected pairs."""
    rng = np.random.default_rng(11)
    (root / "maps").mkdir(parents=True)
    (root / "gt").mkdir()
    items, pairs = [], []
    for i in range(n):
        h, w = 30 + i, 40
        gt = np.zeros((h, w), bool)
        y, x = int(rng.integers(0, 10)), int(rng.integers(0, 15))
        gt[y : y + 12, x : x + 15] = True
        gray = (rng.random((h, w)) * 90).astype(np.uint8)
        gray[y + 2 : y + 14, x + 3 : x + 18] = 200 + i  # shifted: IoU below 1
        if i == 4:
            gray[:] = 0  # an empty prediction
        Image.fromarray(gray).save(root / "maps" / f"probmap_{i}.png")
        item = {"id": f"s{i}", "map": f"probmap_{i}.png", "attributes": {"part": i % 2}}
        if i % 3 == 0:  # a polygon GT: cols x..x+14, rows y..y+11 under OpenCV's fill
            item["polygons"] = [[[x, y], [x + 14, y], [x + 14, y + 11], [x, y + 11]]]
        else:
            Image.fromarray(gt.astype(np.uint8) * 255).save(root / "gt" / f"m{i}.png")
            item["mask"] = f"gt/m{i}.png"
        items.append(item)
        pairs.append((gray, gt))
    (root / "set.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    return root / "set.jsonl", root / "maps", pairs


def test_run_with_both_families(tmp_path):
    manifest, maps, pairs = make_rrsis_set(tmp_path)
    samples = load_samples(manifest, maps)
    res = score_samples(samples, tmp_path / "run", workers=1, metrics=("selo", "rrsis"))
    rows = load_run(tmp_path / "run")[1]
    ok = {r["id"] for r in rows if r.get("error") is None}
    assert ok == {"s0", "s3", "s6", "s9"}  # mask samples fail: the SeLo metrics need polygons
    failed = next(r for r in rows if r["id"] == "s1")
    assert (
        "need polygons" in failed["error"]["message"]
        and "--metrics rrsis" in failed["error"]["message"]
    )
    for r in rows:
        if r.get("error") is None:
            assert {"rmi", "iou", "inter", "union"} <= set(r)
    s = res.summary
    assert s["metrics"] == ["selo", "rrsis"] and s["run"]["metrics"] == ["selo", "rrsis"]
    want = rmsin_loop([pairs[int(i[1:])] for i in sorted(ok, key=lambda v: int(v[1:]))])
    assert s["oiou"] == want["oiou"] and s["prec@0.5"] == want["prec@0.5"]
    assert math.isclose(s["miou"], want["miou"], rel_tol=1e-13)


def test_rrsis_only_run_scores_masks_and_polygons_like_the_loop(tmp_path):
    manifest, maps, pairs = make_rrsis_set(tmp_path)
    res = score_samples(
        load_samples(manifest, maps), tmp_path / "run", workers=1, metrics=["rrsis"]
    )
    s = res.summary
    want = rmsin_loop(pairs)
    assert s["failed"] == 0 and s["count"] == len(pairs)
    assert "rmi" not in s and s["metrics"] == ["rrsis"]
    assert s["oiou"] == want["oiou"]
    assert [s[f"prec@{t}"] for t in (0.5, 0.6, 0.7, 0.8, 0.9)] == [
        want[f"prec@{t}"] for t in (0.5, 0.6, 0.7, 0.8, 0.9)
    ]
    assert math.isclose(s["miou"], want["miou"], rel_tol=1e-13)
    rows = load_run(tmp_path / "run")[1]
    assert [r["iou"] for r in rows] == want["ious"]
    part = s["by_attribute"]["part"]
    assert part["0"]["oiou"] == rmsin_loop(pairs[0::2])["oiou"]
    table = format_attribute_table(s)
    assert "mIoU" in table and "| part=1" in table


def test_a_nearly_empty_map_file_is_scored_not_refused(tmp_path):
    """A PNG whose probabilities are all below 1.5 / 255 holds only 0 and 1: a legitimate
    (all-background) prediction of a model, not a mistyped 0/1 mask as an in-memory uint8
    array of 0 and 1 would be. Found scoring the bench's control maps."""
    manifest, maps, pairs = make_rrsis_set(tmp_path)
    faint = (np.random.default_rng(3).random(pairs[7][0].shape) < 0.3).astype(np.uint8)
    Image.fromarray(faint).save(maps / "probmap_7.png")
    pairs[7] = (faint, pairs[7][1])
    for size in (None, 16):
        res = score_samples(load_samples(manifest, maps), tmp_path / f"run{size}", workers=1,
                            metrics=["rrsis"], rrsis_size=size)
        assert res.summary["failed"] == 0
        row = load_run(tmp_path / f"run{size}")[1][7]
        assert row["inter"] == 0 and row["union"] > 0
    assert res.summary["count"] == len(pairs)
    assert load_run(tmp_path / "runNone")[1][7]["union"] == int(pairs[7][1].sum())
    with pytest.raises(SeLoInputError, match="only 0 and 1"):  # the in-memory API still refuses
        rrsis_row(faint, pairs[7][1])
    from selo_metrics.rrsis import iou

    with pytest.raises(SeLoInputError, match="only 0 and 1"):
        iou(faint, pairs[7][1])
    assert iou(faint, pairs[7][1], check_01=False) == 0.0  # value / 255: all background


def test_resume_refuses_other_metrics_and_reads_old_runs(tmp_path):
    manifest, maps, _ = make_rrsis_set(tmp_path, n=3)
    samples = load_samples(manifest, maps)
    score_samples(samples, tmp_path / "run", workers=1, metrics="rrsis")
    with pytest.raises(RunDirError, match="metrics rrsis"):
        score_samples(samples, tmp_path / "run", workers=1)
    with pytest.raises(RunDirError, match="--rrsis-size None"):
        score_samples(samples, tmp_path / "run", workers=1, metrics="rrsis", rrsis_size=8)
    poly = [s for s in samples if s.mask is None]
    score_samples(poly, tmp_path / "old", workers=1)
    run_json = tmp_path / "old" / "run.json"
    old = json.loads(run_json.read_text())
    del old["metrics"], old["rrsis_size"]  # a run directory written before the RRSIS family
    run_json.write_text(json.dumps(old))
    assert score_samples(poly, tmp_path / "old", workers=1).skipped == len(poly)


def test_fixed_size_run(tmp_path):
    manifest, maps, pairs = make_rrsis_set(tmp_path, n=4)
    res = score_samples(
        load_samples(manifest, maps), tmp_path / "run", workers=1, metrics="rrsis", rrsis_size=16
    )
    rows = load_run(tmp_path / "run")[1]
    assert res.summary["run"]["rrsis_size"] == 16
    for r, (gray, gt) in zip(rows[1:], pairs[1:], strict=True):  # the mask samples
        if r["id"] != "s3":
            assert (r["inter"], r["union"]) == rmsin_protocol_ref(gray, gt, 16)
    with pytest.raises(ValueError, match="needs the rrsis metrics"):
        score_samples([], tmp_path / "x", rrsis_size=16)


def test_cli_score_with_rrsis(tmp_path, capsys):
    manifest, maps, _ = make_rrsis_set(tmp_path, n=6)
    code = main(
        [
            "score",
            str(manifest),
            str(maps),
            "--out",
            str(tmp_path / "run"),
            "--metrics",
            "rrsis",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert (
        header.index("mIoU")
        < header.index("oIoU")
        < header.index("P@0.5")
        < header.index("P@0.9")
        < header.index("maps")
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    cell = out.splitlines()[2].split("|")[2].strip()
    assert cell == f"{100 * summary['miou']:.2f}"  # x 100, 2 decimals
    with pytest.raises(SystemExit) as info:  # argparse: a usage line and an error line
        main(
            [
                "score",
                str(manifest),
                str(maps),
                "--out",
                str(tmp_path / "r2"),
                "--metrics",
                "selo,iou",
            ]
        )
    assert info.value.code == 2
    assert "error: argument --metrics: unknown metric family ['iou']" in capsys.readouterr().err
    assert (
        main(
            [
                "score",
                str(manifest),
                str(maps),
                "--out",
                str(tmp_path / "r3"),
                "--rrsis-size",
                "480",
            ]
        )
        == 2
    )
    assert "--rrsis-size" in capsys.readouterr().err


def test_tables_put_rrsis_after_selo_and_compare_by_iou():
    rows_a = [
        {
            "index": 0,
            "id": "q0",
            "rsu": 1.0,
            "ras": 0.0,
            "rda": 1.0,
            "rmi": 1.0,
            "iou": 0.5,
            "inter": 1,
            "union": 2,
            "seconds": 0.1,
        }
    ]
    rows_b = [{"index": 0, "id": "q0", "iou": 0.25, "inter": 1, "union": 4, "seconds": 0.1}]
    from selo_metrics.report import summarize

    a = summarize(rows_a, metrics=("selo", "rrsis"))
    b = summarize(rows_b, metrics=("rrsis",))
    table = format_table([("A", a), ("B", b)])
    header, _, line_a, line_b = table.splitlines()
    assert header.index("↑Rda") < header.index("mIoU")
    assert "| 50.00 " in line_a and "| 25.00 " in line_b
    assert line_b.split("|")[2].strip() == "-"  # B has no Rmi
    text = format_compare([("A", a, rows_a), ("B", b, rows_b)])
    assert "Samples whose IoU differs most" in text and "0.2500" in text


# --- SeLoAccumulator -------------------------------------------------------------------------


def test_accumulator_carries_the_rrsis_metrics(tmp_path):
    manifest, maps, pairs = make_rrsis_set(tmp_path, n=6)
    run = score_samples(
        load_samples(manifest, maps), tmp_path / "run", workers=1, metrics="rrsis"
    ).summary
    a, b = SeLoAccumulator(metrics="rrsis"), SeLoAccumulator(metrics="rrsis")
    for i, (gray, gt) in enumerate(pairs):
        (a if i % 2 else b).update(gray, gt, sample_id=f"s{i}", index=i, attributes={"part": i % 2})
    merged = pickle.loads(pickle.dumps(b)).merge(a).compute()
    for key in ("miou", "oiou", "prec@0.5", "prec@0.9", "count"):
        assert merged[key] == run[key]
    assert merged["by_attribute"]["part"]["1"]["oiou"] == run["by_attribute"]["part"]["1"]["oiou"]
    both = SeLoAccumulator(metrics="selo,rrsis")
    gray, gt = pairs[0]
    poly = [[[0, 0], [20, 0], [20, 20], [0, 20]]]
    both.update(gray, poly, sample_id="p")
    row = both.rows[0]
    assert {"rmi", "iou", "inter", "union"} <= set(row)
    with pytest.raises(ValueError, match="cannot merge"):
        both.merge(SeLoAccumulator())
    with pytest.raises(ValueError, match="inter, union"):
        SeLoAccumulator(metrics="rrsis").add_row({"id": "x", "rmi": 1.0})
    with pytest.raises(TypeError, match="SeLo metrics only"):
        both.update(SeLoAccumulator().update(gray, poly))


def test_rrsis_stats_of_no_row():
    assert rrsis_stats([])["miou"] is None
