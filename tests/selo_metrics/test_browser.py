"""The report rendered by a real browser: headless Chromium (Debian's ``chromium``).

A copy of the page gets a probe script as the first thing in its ``<head>``: it records
``console.error`` calls and error events (a broken image fires one) and, once the page has
loaded, writes every image's natural size, the resources the page fetched and the errors
into the DOM, which ``--dump-dom`` prints. Chromium's own console log (``--enable-logging``)
must stay empty too. The table values of the rendered DOM are checked against
``summary.json``, and a screenshot of the page is taken.

Without Chromium the tests skip, except where ``SELO_REQUIRE_BROWSER=1`` (``.ci/run``): there
they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("jinja2")
pytest.importorskip("matplotlib")

from selo_metrics.cli import main
from tests.selo_metrics.html_dom import keyed_rows, parse

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PROBE = """<script>
window.__errors = [];
const __error = console.error;
console.error = function (...a) { window.__errors.push("console.error: " + a.join(" "));
                                  __error.apply(console, a); };
window.addEventListener("error", function (e) {
  const t = e.target;
  window.__errors.push(t && t.tagName ? "failed to load <" + t.tagName.toLowerCase() + "> "
                       + String(t.src || t.href || "").slice(0, 60) : "error: " + e.message);
}, true);
window.addEventListener("load", function () {
  const out = document.createElement("pre");
  out.id = "__probe";
  out.textContent = JSON.stringify({
    errors: window.__errors,
    images: Array.from(document.images).map(i => ({id: i.id, cls: i.className,
      w: i.naturalWidth, h: i.naturalHeight, complete: i.complete})),
    fetched: performance.getEntriesByType("resource").map(r => r.name)});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    """The browser's path, or skip (fail where SELO_REQUIRE_BROWSER=1)."""
    found = os.environ.get("SELO_CHROMIUM") or next(
        (p for p in map(shutil.which, _NAMES) if p), None
    )
    if found:
        return found
    reason = "no headless Chromium (apt-get install chromium, or set SELO_CHROMIUM)"
    if os.environ.get("SELO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SELO_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _run_chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def render(page: Path, tmp: Path) -> tuple[str, dict, list[str]]:
    """The rendered DOM, the probe's findings, and Chromium's console lines for the page."""
    probed = tmp / ("probed_" + page.name)
    html = page.read_text(encoding="utf-8")
    assert "<head>" in html
    probed.write_text(html.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    proc = _run_chromium(probed, tmp, "--virtual-time-budget=10000", "--dump-dom")
    dom = proc.stdout
    node = parse(dom).find("pre", id="__probe")
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return dom, json.loads(node.text), console


def screenshot(page: Path, tmp: Path, out: Path, height: int = 3000) -> Path:
    _run_chromium(
        page, tmp, f"--screenshot={out}", f"--window-size=1400,{height}", "--hide-scrollbars"
    )
    assert out.exists()
    return out


def _check_page(page: Path, runs: list[Path], tmp: Path) -> dict:
    dom, probe, console = render(page, tmp)
    assert probe["errors"] == [] and console == [], (probe["errors"], console)
    assert probe["fetched"] == []  # nothing fetched: every image is embedded
    images = probe["images"]
    assert images and all(i["complete"] and i["w"] > 0 and i["h"] > 0 for i in images), images
    # the rendered summary table holds the numbers of summary.json
    cells = keyed_rows(parse(dom).find("table", "summary"))
    for run in runs:
        s = json.loads((run / "summary.json").read_text())
        row = cells[run.name]
        for key in ("rmi", "rsu", "ras", "rda"):
            text, exact = row[key]
            assert exact == s[key] and text == f"{s[key]:.4f}", (run, key)
        assert row["count"] == (str(s["count"]), s["count"])
        assert row["failed"] == (str(s["failed"]), s["failed"])
    return probe


def test_report_of_two_real_runs_renders_in_chromium(scored_runs, tmp_path):
    page = tmp_path / "report.html"
    assert main(["report", *map(str, scored_runs), "--out", str(page), "--no-progress"]) == 0
    probe = _check_page(page, list(scored_runs), tmp_path)
    thumbs = [i for i in probe["images"] if i["cls"] == "thumb"]
    # 11 scored samples a run, all in the worst list (gallery 12), and 11 compared pairs
    assert len(thumbs) == 2 * 11 + 2 * 11
    assert {i["id"] for i in probe["images"] if i["cls"] == "figure"} == {"histograms", "scatter"}
    shot = screenshot(page, tmp_path, tmp_path / "report.png")
    with Image.open(shot) as im:
        assert im.size == (1400, 3000)
        # the page drew something: not a blank screen
        assert len(im.convert("L").getcolors(256 * 256) or ()) > 50
    print(f"screenshot: {shot}")


@pytest.mark.slow
def test_report_of_the_demo_renders_in_chromium(tmp_path):
    """The demo's run (AIR-SLT scene sizes, JPEG maps) through `selo-metrics report`."""
    assert (
        main(
            [
                "demo",
                "--limit",
                "3",
                "--kinds",
                "focused",
                "--workers",
                "1",
                "--out",
                str(tmp_path / "demo"),
            ]
        )
        == 0
    )
    run = tmp_path / "demo" / "run_focused"
    page = tmp_path / "demo.html"
    assert main(["report", str(run), "--out", str(page), "--no-progress"]) == 0
    probe = _check_page(page, [run], tmp_path)
    assert len([i for i in probe["images"] if i["cls"] == "thumb"]) == 3
    # drawn from the JPEG maps at thumbnail scale, with the GT of the demo's anno.json
    notes = [n.text for n in parse(page.read_text()).find_all("div", "src")]
    assert notes == ["the map, GT outlined"] * 3


def test_the_probe_sees_broken_images_and_console_errors(tmp_path):
    """The harness itself: a broken image and a console error are caught, not missed."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        '<img class="thumb" src="data:image/jpeg;base64,AAAA">'
        '<img class="thumb" src="data:image/png;base64,'
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQ"
        'AAAABJRU5ErkJggg==">'
        '<script>console.error("boom")</script></body></html>'
    )
    _, probe, console = render(page, tmp_path)
    assert [i["w"] for i in probe["images"]] == [0, 1]
    assert any("failed to load <img>" in e for e in probe["errors"])
    assert any("boom" in e for e in probe["errors"]) and any("boom" in c for c in console)
