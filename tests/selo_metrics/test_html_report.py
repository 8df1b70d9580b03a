"""``selo-metrics report``: the page's structure, numbers, self-containment and size.

The expected tables come from the terminal's own tables (``format_table``,
``format_attribute_table``, ``format_compare``) and from ``summary.json`` / ``samples.jsonl``
read directly, never from the report's code.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

pytest.importorskip("jinja2")
pytest.importorskip("matplotlib")

from selo_metrics.cli import main
from selo_metrics.html import thumbs
from selo_metrics.io import read_map
from selo_metrics.report import (
    format_attribute_table,
    format_compare,
    format_table,
    summarize,
)
from tests.selo_metrics.html_dom import keyed_rows, markdown_rows, parse, table_cells


def _report(runs, out: Path, *extra: str) -> str:
    assert main(["report", *map(str, runs), "--out", str(out), "--no-progress", *extra]) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def two_run_page(scored_runs, tmp_path_factory) -> str:
    return _report(scored_runs, tmp_path_factory.mktemp("page") / "report.html")


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def test_summary_table_is_the_terminals_with_the_exact_values(scored_runs, two_run_page):
    dom = parse(two_run_page)
    table = dom.find("table", "summary")
    summaries = [(run.name, _summary(run)) for run in scored_runs]
    # the same header and cells as the terminal prints
    assert table_cells(table) == markdown_rows(format_table(summaries))
    cells = keyed_rows(table)
    for name, s in summaries:
        for key in ("rmi", "rsu", "ras", "rda", "count", "failed", "seconds_per_map"):
            assert cells[name][key][1] == s[key], (name, key)  # exact, from data-value


def test_attribute_tables_failures_and_facts(scored_runs, two_run_page):
    dom = parse(two_run_page)
    for run in scored_runs:
        s = _summary(run)
        block = dom.find("div", "attributes", data_run=run.name)
        assert table_cells(block.find("table")) == markdown_rows(format_attribute_table(s))
        fails = dom.find("table", "failures", data_run=run.name)
        expected = [
            [str(f["index"]), f["id"], f["error"]["type"], f["error"]["message"]]
            for f in s["failures"]
        ]
        assert table_cells(fails)[1:] == expected and len(expected) == 3
        facts = dict(table_cells(dom.find("table", "facts", data_run=run.name)))
        settings = json.loads((run / "run.json").read_text())
        assert facts["test-set fingerprint"] == settings["fingerprint"]
        assert facts["convention"] == settings["convention"] == s["run"]["convention"]
        assert facts["selo-metrics version"] == s["run"]["selo_metrics_version"]
        assert facts["parameters"] == "{}"


def test_galleries_hold_the_worst_and_best_by_rmi(scored_runs, two_run_page):
    dom = parse(two_run_page)
    for run in scored_runs:
        scored = [r for r in _rows(run) if r.get("error") is None]
        order = sorted(scored, key=lambda r: (r["rmi"], r["index"]))
        gallery = dom.find("div", "gallery", data_run=run.name)
        worst = [c.attrs["data-id"] for c in gallery.find("div", "worst").find_all("div", "card")]
        # 11 scored samples, gallery 12: all in the worst list, none repeated
        assert worst == [r["id"] for r in order]
        assert gallery.find_all("div", "best") == []
        assert "Every scored sample is in the list above" in gallery.text
        for card in gallery.find_all("div", "card"):
            row = next(r for r in scored if r["id"] == card.attrs["data-id"])
            values = {
                c.attrs["data-key"]: json.loads(c.attrs["data-value"]) for c in card.find_all("td")
            }
            assert values == {k: row[k] for k in ("rmi", "rsu", "ras", "rda")}
            assert row["query"] in card.text
            src = card.find("img").attrs["src"]
            assert src.startswith("data:image/jpeg;base64,")
            note = card.find("div", "src").text
            assert note == ("the run's overlay" if run.name == "slm" else "the map, GT outlined")


def test_small_gallery_and_compare_view(scored_runs, tmp_path):
    page = _report(scored_runs, tmp_path / "r.html", "--gallery", "3")
    dom = parse(page)
    for run in scored_runs:
        order = sorted(
            (r for r in _rows(run) if r.get("error") is None), key=lambda r: (r["rmi"], r["index"])
        )
        gallery = dom.find("div", "gallery", data_run=run.name)
        assert [
            c.attrs["data-id"] for c in gallery.find("div", "worst").find_all("div", "card")
        ] == [r["id"] for r in order[:3]]
        assert [
            c.attrs["data-id"] for c in gallery.find("div", "best").find_all("div", "card")
        ] == [r["id"] for r in order[::-1][:3]]
    # the compare view lists the samples `selo-metrics compare` lists, in its order
    runs = [(run.name, _summary(run), _rows(run)) for run in scored_runs]
    listed = markdown_rows(format_compare(runs, top=3).split("differs most")[1])[1:]
    pairs = dom.find("section", id="compare").find_all("div", "pair")
    assert [p.attrs["data-id"] for p in pairs] == [r[0] for r in listed]
    for pair, line in zip(pairs, listed, strict=True):
        cards = pair.find_all("div", "card")
        assert len(cards) == 2 and all(
            c.find("img").attrs["src"].startswith("data:") for c in cards
        )
        rmis = [f"{json.loads(c.find('td').attrs['data-value']):.4f}" for c in cards]
        assert rmis == line[1:3]


def test_page_is_self_contained(two_run_page):
    page = two_run_page
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "url(" not in page
    srcs = re.findall(r'\bsrc="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert all(h.startswith("#") for h in re.findall(r'\bhref="([^"]*)"', page))


def test_thumbnails_are_small_images(two_run_page):
    for uri in re.findall(r'src="(data:image/jpeg;base64,[^"]+)"', two_run_page):
        im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        im.load()
        assert max(im.size) <= thumbs.THUMB_SIDE and im.format == "JPEG"


def test_jpeg_maps_are_decoded_at_reduced_scale(tmp_path, monkeypatch):
    """A 8000 x 6000 JPEG map is never decoded at full size for its thumbnail."""
    path = tmp_path / "big.jpg"
    gray = np.zeros((6000, 8000), np.uint8)
    gray[1000:3000, 2000:5000] = 255
    Image.fromarray(gray).save(path, quality=90)
    decoded = []
    load = JpegImagePlugin.JpegImageFile.load

    def spy(self):
        decoded.append(self.size)
        return load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    small, full = thumbs.reduced_map(path, 320)
    assert full == (6000, 8000) and small.shape == (240, 320)
    assert decoded and all(w <= 8000 // 8 and h <= 6000 // 8 for w, h in decoded)
    # the bright block is where it is in the map (1/25 of the size)
    assert small[40:120, 80:200].min() > 200 and small[150:, :].max() < 30
    jpg = thumbs.map_thumbnail(path, [[(2000, 1000), (5000, 1000), (5000, 3000)]])
    assert Image.open(io.BytesIO(jpg)).size == (320, 240)


def test_exif_rotated_jpeg_thumbnail_is_turned_like_the_map(tmp_path):
    gray = np.zeros((300, 600), np.uint8)
    gray[:, :100] = 255  # left band bright
    im = Image.fromarray(gray)
    exif = im.getexif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to display
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    small, full = thumbs.reduced_map(tmp_path / "r.jpg", 120)
    assert full == (600, 300) and small.shape == (120, 60)
    assert small[:15].mean() > 200 and small[-40:].mean() < 30  # the band is now on top


def test_xmp_orientation_does_not_turn_the_thumbnail_as_it_does_not_turn_the_map(tmp_path):
    gray = np.zeros((300, 600), np.uint8)
    gray[:, :100] = 255
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
        b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
        b' tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    )
    Image.fromarray(gray).save(tmp_path / "x.jpg", xmp=xmp, quality=95)
    small, full = thumbs.reduced_map(tmp_path / "x.jpg", 120)
    assert full == read_map(tmp_path / "x.jpg").shape == (300, 600) and small.shape == (60, 120)
    assert small[:, :15].mean() > 200 and small[:, -40:].mean() < 30  # the band stays left


def _synthetic_run(root: Path, n: int, *, failed: int = 0) -> Path:
    """A run directory of ``n`` rows over a few real map files (the gallery reads them)."""
    rng = np.random.default_rng(1)
    maps = []
    for k, (h, w) in enumerate([(3000, 4000), (2400, 2400), (1000, 1500)]):
        g = (rng.random((h // 50, w // 50)) * 255).astype(np.uint8)
        im = Image.fromarray(g).resize((w, h), Image.Resampling.BILINEAR)
        p = root / f"map{k}.{'jpg' if k < 2 else 'png'}"
        im.save(p, **({"quality": 95} if k < 2 else {}))
        maps.append((str(p), h, w))
    rows = []
    for i in range(n):
        path, h, w = maps[i % len(maps)]
        row = {
            "index": i,
            "id": f"q{i:04d}",
            "map": path,
            "query": f"the {i}th synthetic query about a long road next to a lake",
        }
        if i < failed:
            row["error"] = {"type": "MapReadError", "message": f"map file {path} is corrupt"}
        else:
            rsu, ras, rda = rng.random(3)
            row.update(
                rsu=rsu,
                ras=ras,
                rda=rda,
                rmi=(rsu + 1 - ras + rda) / 3,
                mask_area=1000,
                shape=[h, w],
                seconds=0.1,
            )
        row.update(multi_hop=bool(i % 3), multi_ref=bool(i % 2))
        rows.append(row)
    run = root / "run"
    run.mkdir()
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = summarize(rows, attributes=["multi_hop", "multi_ref"])
    summary.update(
        pending=0,
        run={
            "convention": "slm",
            "params": {},
            "backend": "1 process",
            "samples_in_test_set": n,
            "limit": None,
            "wall_seconds_this_invocation": 1.0,
            "selo_metrics_version": "0.1.0",
        },
    )
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_1129_samples_page_stays_small(tmp_path, capsys):
    run = _synthetic_run(tmp_path, 1129, failed=150)
    a = tmp_path / "a"
    a.mkdir()
    page = _report([run], a / "r.html")
    size = len(page.encode())
    print(f"1129-sample page: {size / 1e6:.2f} MB")
    assert size < 10e6
    dom = parse(page)
    assert len(dom.find_all("div", "card")) == 24
    # the page lists 100 failures and says where the rest are
    assert len(table_cells(dom.find("table", "failures"))) == 1 + 100
    assert "150 sample(s) could not be scored" in page and "summary.json lists them all" in page
    # the summary's numbers, not a sample's
    cells = keyed_rows(dom.find("table", "summary"))["run"]
    assert cells["failed"] == ("150", 150) and cells["count"] == ("1129", 1129)


def test_rrsis_columns_as_the_terminal_prints_them(rrsis_runs, tmp_path):
    """A real --metrics selo,rrsis run and a --metrics rrsis run of mask GT."""
    both, masks = rrsis_runs
    dom = parse(_report([both, masks], tmp_path / "r.html"))
    summaries = [(run.name, _summary(run)) for run in rrsis_runs]
    table = dom.find("table", "summary")
    assert table_cells(table) == markdown_rows(format_table(summaries))
    assert table_cells(table)[0][5:8] == ["mIoU", "oIoU", "P@0.5"]
    cells = keyed_rows(table)
    for name, s in summaries:
        for key in ("miou", "oiou", "prec@0.5", "prec@0.9"):
            assert cells[name][key][1] == s[key]
    for name, s in summaries:  # each run's own families, as the terminal prints it
        block = dom.find("div", "attributes", data_run=name)
        assert table_cells(block.find("table")) == markdown_rows(format_attribute_table(s))
    # the mask run has no SeLo metrics: its gallery ranks by IoU, cards show IoU x 100
    rows = [r for r in _rows(masks) if r.get("error") is None]
    order = sorted(rows, key=lambda r: (r["iou"], r["index"]))
    gallery = dom.find("div", "gallery", data_run="masks")
    cards = gallery.find("div", "worst").find_all("div", "card")
    assert [c.attrs["data-id"] for c in cards] == [r["id"] for r in order]
    for card, row in zip(cards, order, strict=True):
        (cell,) = card.find_all("td")
        assert cell.attrs["data-key"] == "iou" and cell.text == f"{100 * row['iou']:.2f}"
        assert card.find("div", "src").text == "the map, GT outlined"  # the mask's outline
    assert "by IoU" in gallery.text
    # the mixed pair is compared by IoU, as `selo-metrics compare` does
    runs = [(run.name, _summary(run), _rows(run)) for run in rrsis_runs]
    listed = markdown_rows(format_compare(runs, top=12).split("differs most")[1])[1:]
    pairs = dom.find("section", id="compare").find_all("div", "pair")
    assert [p.attrs["data-id"] for p in pairs] == [r[0] for r in listed]
    assert "Samples whose IoU differs most" in dom.find("section", id="compare").text
    assert dom.find_all("img", id="scatter")  # the selo,rrsis run has Rsu / Ras


def test_a_run_with_nothing_scored_still_renders(tmp_path):
    run = _synthetic_run(tmp_path, 4, failed=4)
    dom = parse(_report([run], tmp_path / "r.html"))
    assert keyed_rows(dom.find("table", "summary"))["run"]["rmi"] == ("-", None)
    assert dom.find_all("div", "card") == []
    assert "No scored sample" in dom.find("section", id="galleries").text


def test_missing_map_gives_a_note_not_a_failure(scored_runs, tmp_path):
    run = _synthetic_run(tmp_path, 3)
    Path(json.loads((run / "samples.jsonl").read_text().splitlines()[0])["map"]).unlink()
    dom = parse(_report([run], tmp_path / "r.html"))
    notes = [
        c.find("div", "nothumb").text
        for c in dom.find_all("div", "card")
        if c.find_all("div", "nothumb")
    ]
    assert len(notes) == 1 and "is not there any more" in notes[0]


def test_cli_errors_exit_2(tmp_path, capsys, monkeypatch):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert "has no summary.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path), "--out", "x.html", "--gallery", "-1"])
    assert exc.value.code == 2 and "must be >= 0" in capsys.readouterr().err
    run = _synthetic_run(tmp_path, 2)
    assert main(["report", str(run), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "jinja2", None)  # as if jinja2 were not installed
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("selo-metrics report: error: ")
        and "pip install 'selo-metrics[report]'" in err
    )
    assert not (tmp_path / "r.html").exists()


def test_import_selo_metrics_does_not_import_the_report_stack():
    code = (
        "import sys, selo_metrics, selo_metrics.cli; "
        "print(sorted(m for m in ('jinja2', 'matplotlib', 'pandas', 'torchmetrics') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_histogram_panel_per_metric(scored_runs, two_run_page):
    dom = parse(two_run_page)
    for img_id in ("histograms", "scatter"):
        src = dom.find("img", id=img_id).attrs["src"]
        im = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert im.format == "PNG" and im.size[0] > 300
    assert math.isfinite(_summary(scored_runs[0])["rmi"])


def test_paths_recorded_relative_to_the_scoring_directory_are_found_from_anywhere(
    tmp_path, monkeypatch
):
    """`selo-metrics score set.jsonl --out runs/a` run in DIR records map paths relative to
    DIR; a report made in another directory finds them through the run directory's parents
    (a bench's report showed "not there any more" for every thumbnail before)."""
    from selo_metrics.html.page import _locate

    (tmp_path / "exp" / "maps").mkdir(parents=True)
    (tmp_path / "exp" / "maps" / "m.png").write_bytes(b"x")
    run = tmp_path / "exp" / "runs" / "a"
    run.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert _locate(run, "maps/m.png") == str(tmp_path / "exp" / "maps" / "m.png")
    assert _locate(run, "exp/maps/m.png") == str(tmp_path / "exp" / "maps" / "m.png")
    assert _locate(run, "missing.png") == "missing.png"  # not found: as recorded
    assert _locate(run, None) is None
