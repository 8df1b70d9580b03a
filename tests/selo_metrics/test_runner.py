"""The runner: per-sample failures, resume, kill safety, identical summaries, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selo_metrics import RunDirError, evaluate, load_samples, read_map, score_samples
from selo_metrics.cli import main
from selo_metrics.journal import Journal
from tests.selo_metrics.testsets import make_test_set, metric_view, rows_by_index

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def test_set(tmp_path_factory) -> Path:
    return make_test_set(tmp_path_factory.mktemp("set"))


@pytest.fixture(scope="module")
def reference(test_set, tmp_path_factory):
    """An uninterrupted run in this process: (summary, rows by index)."""
    run = tmp_path_factory.mktemp("ref") / "run"
    res = score_samples(load_samples(test_set), run, workers=1)
    return res.summary, rows_by_index(run / "samples.jsonl")


def test_failures_belong_to_their_sample_and_the_run_goes_on(reference, test_set):
    summary, rows = reference
    assert summary["count"] == 24 and summary["failed"] == 3 and summary["scored"] == 21
    errors = {r["id"]: r["error"] for r in rows.values() if "error" in r}
    assert errors["q003"]["type"] == "MapReadError" and "does not exist" in \
        errors["q003"]["message"]
    assert errors["q005"]["type"] == "MapReadError" and "truncated" in errors["q005"]["message"]
    assert errors["q007"]["type"] == "SeLoInputError" and "zero-area" in \
        errors["q007"]["message"]
    assert all("rmi" not in rows[i] for i in (3, 5, 7))
    # a scored row: the metrics of read_map + evaluate, the attributes, the fields in order
    row = rows[4]
    sample = load_samples(test_set)[4]
    res = evaluate(read_map(sample.map), sample.polygons)
    assert (row["rsu"], row["ras"], row["rda"], row["rmi"]) == (res.rsu, res.ras, res.rda,
                                                                 res.rmi)
    assert list(row)[:8] == ["index", "id", "map", "query", "rsu", "ras", "rda", "rmi"]
    assert row["multi_hop"] is True and row["source"] == "S1"


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_wrapped_by_a_class_statement_stops_the_run(tmp_path, monkeypatch,
                                                                  interrupt):
    """A signal landing while a decoder's module is imported (Pillow's plugins load on first
    use) can surface inside ``__set_name__``, which Python 3.11 wraps in a RuntimeError:
    the run stops as interrupted, and the sample is not recorded as failed."""
    from selo_metrics import runner

    class Descriptor:
        def __set_name__(self, owner, name):
            raise interrupt()

    def read_map_importing(*args, **kwargs):
        class Plugin:  # what importing a module that defines such a class does
            prop = Descriptor()

    samples = load_samples(make_test_set(tmp_path / "set", n=2))
    monkeypatch.setattr(runner, "read_map", read_map_importing)
    with pytest.raises(interrupt):
        runner.score_sample(samples[0])
    with pytest.raises(interrupt):
        score_samples(samples, tmp_path / "run", workers=1, progress=False)
    journal = tmp_path / "run" / "samples.jsonl"
    assert not journal.exists() or rows_by_index(journal) == {}


def test_summary_means_are_in_sample_order_and_per_attribute(reference):
    import math

    summary, rows = reference
    ok = [rows[i] for i in sorted(rows) if "error" not in rows[i]]
    assert summary["rmi"] == math.fsum(r["rmi"] for r in ok) / len(ok)
    hop = [r for r in ok if r["multi_hop"]]
    assert summary["by_attribute"]["multi_hop"]["true"]["rsu"] == \
        math.fsum(r["rsu"] for r in hop) / len(hop)
    assert summary["by_attribute"]["source"]["S0"]["count"] == 8
    assert [f["index"] for f in summary["failures"]] == [3, 5, 7]


def test_identical_summary_with_processes_and_dask(reference, test_set, tmp_path):
    pytest.importorskip("distributed")
    samples = load_samples(test_set)
    two = score_samples(samples, tmp_path / "two", workers=2).summary
    dask = score_samples(samples, tmp_path / "dask", workers=2, dask="local").summary
    assert metric_view(two) == metric_view(reference[0])
    assert metric_view(dask) == metric_view(reference[0])
    for run in ("two", "dask"):
        assert rows_by_index(tmp_path / run / "samples.jsonl") == reference[1]


def test_resume_skips_recorded_samples_and_retries_failures_only_when_asked(tmp_path):
    samples = load_samples(make_test_set(tmp_path / "set"))  # its own copy: a map is added
    first = score_samples(samples, tmp_path / "r", workers=1, limit=10)
    assert (first.scored_now, first.failed_now, first.skipped) == (7, 3, 0)
    assert first.summary["count"] == 10
    journal = tmp_path / "r" / "samples.jsonl"
    before = journal.read_bytes()
    again = score_samples(samples, tmp_path / "r", workers=1)
    assert (again.scored_now, again.failed_now, again.skipped) == (14, 0, 10)
    assert journal.read_bytes().startswith(before)  # appended, never rewritten
    # fix the missing map, then retry the failures: only they are scored again
    make_dir = Path(samples[3].map).parent
    (make_dir / "m003.png").write_bytes((make_dir / "m002.png").read_bytes())
    retry = score_samples(samples, tmp_path / "r", workers=1, retry_failed=True)
    assert (retry.scored_now, retry.failed_now, retry.skipped) == (1, 2, 21)
    assert retry.summary["failed"] == 2 and retry.summary["count"] == 24
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert [x["index"] for x in lines].count(3) == 2  # the error row stays, the new one counts


def test_a_run_dir_of_other_inputs_is_refused(test_set, tmp_path):
    samples = load_samples(test_set)
    score_samples(samples, tmp_path / "r", workers=1, limit=2)
    with pytest.raises(RunDirError, match="convention 'slm'"):
        score_samples(samples, tmp_path / "r", workers=1, convention="paper")
    with pytest.raises(RunDirError, match="different test set"):
        score_samples(samples[:5], tmp_path / "r", workers=1)
    with pytest.raises(RunDirError, match="parameters"):
        score_samples(samples, tmp_path / "r", workers=1, params={"rda_eta": 0.6})


def test_damage_before_the_last_line_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "samples.jsonl"
    error = '"error": {"type": "MapReadError", "message": "missing"}'
    path.write_text(f'{{"index": 0, "id": "a", {error}}}\n{{"index": 1, "rm\n'
                    f'{{"index": 2, "id": "c", {error}}}\n')
    before = path.read_bytes()
    with pytest.raises(RunDirError, match="line 2: not valid JSON"):
        Journal(path)
    assert path.read_bytes() == before


def test_a_torn_last_line_is_dropped_and_recomputed(test_set, tmp_path, reference):
    samples = load_samples(test_set)
    score_samples(samples, tmp_path / "r", workers=1, limit=6)
    journal = tmp_path / "r" / "samples.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    # the kill struck in the middle of writing sample 5's row
    journal.write_bytes(b"".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    res = score_samples(samples, tmp_path / "r", workers=1)
    assert res.dropped_torn_line and res.scored_now + res.failed_now == 19
    assert rows_by_index(journal) == reference[1]


def _journal_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "selo_metrics.cli", *args]


def test_sigkill_at_any_moment_then_resume_gives_the_uninterrupted_rows(tmp_path):
    """A real SIGKILL of the CLI process (and its workers), twice, then a resume."""
    manifest = make_test_set(tmp_path / "set", n=48, size=700)
    ref = tmp_path / "ref"
    score_samples(load_samples(manifest), ref, workers=1)
    want = rows_by_index(ref / "samples.jsonl")
    run = tmp_path / "run"
    journal = run / "samples.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for kill_after in (1, 20):
        proc = subprocess.Popen(
            _cli("score", str(manifest), "--out", str(run), "--workers", "2", "--no-progress"),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 120
        while _journal_lines(journal) < kill_after and proc.poll() is None:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI process and its workers, at once
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
        assert not (run / "summary.json").exists()
    killed_at = _journal_lines(journal)
    assert 20 <= killed_at < 48, "the kill should strike mid-run"
    done = subprocess.run(_cli("score", str(manifest), "--out", str(run), "--workers", "2",
                               "--no-progress"), env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stderr  # the test set's 3 broken samples
    assert rows_by_index(journal) == want  # no duplicate, no missing row, no torn line
    assert json.loads((run / "summary.json").read_text())["count"] == 48


def test_cli_scores_the_shared_file_cases_like_the_official_code(tmp_path, capsys):
    """AIR-SLT layout: anno.json + probmap_{idx}.jpg/.png, through the CLI."""
    from tests.selo_metrics.test_io import BUNDLED_FILE_CASES, SHARED_FILE_CASES

    cases = SHARED_FILE_CASES or BUNDLED_FILE_CASES
    maps = tmp_path / "maps"
    maps.mkdir()
    anno = []
    for idx, case in enumerate(cases):
        src = Path(case["_root"]) / case["map"]
        (maps / f"probmap_{idx}{src.suffix}").write_bytes(src.read_bytes())
        anno.append({"caption": case["query"], "jpg_name": f"{case['id']}.tif",
                     "points": case["polygons"]})
    (tmp_path / "anno.json").write_text(json.dumps(anno))
    assert main(["score", str(tmp_path / "anno.json"), str(maps), "--out",
                 str(tmp_path / "run"), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "↑Rmi" in out.splitlines()[0]
    rows = rows_by_index(tmp_path / "run" / "samples.jsonl")
    assert len(rows) == len(cases)
    for idx, case in enumerate(cases):
        for key in ("rsu", "ras", "rda", "rmi"):
            assert abs(rows[idx][key] - case["expected"][key]) <= 1e-9, (case["id"], key)


def test_cli_overlays_compare_and_errors(test_set, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    # sample 3 of the test set has no map file: status 1, the rest is scored
    assert main(["score", str(test_set), "--out", str(tmp_path / "a"), "--workers", "1",
                 "--limit", "5", "--overlays"]) == 1
    pngs = sorted(p.name for p in (tmp_path / "a" / "overlays").iterdir())
    assert pngs == ["00000_q000.png", "00001_q001.png", "00002_q002.png", "00004_q004.png"]
    assert main(["score", str(test_set), "--out", str(tmp_path / "b"), "--workers", "1",
                 "--limit", "3", "--convention", "paper"]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "| a " in out and "| b " in out and "differs most" in out
    # bad inputs: a message and status 2, no traceback
    assert main(["score", str(tmp_path / "nope.json"), "--out", str(tmp_path / "c")]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "nothing")]) == 2
    assert "no summary.json" in capsys.readouterr().err


# -- rows that UTF-8 cannot encode (issue 13, item 1) ---------------------------------------

@pytest.mark.parametrize("workers", ["1", "2"])
def test_rows_utf8_cannot_encode_are_written_and_resumed(tmp_path, workers):
    """Non-UTF-8 directory and file names on disk, lone surrogates in an id and a query."""
    src = make_test_set(tmp_path / "set", n=4, broken=False, size=160)
    items = [json.loads(x) for x in src.read_text().splitlines()]
    maps = os.fsencode(tmp_path) + b"/maps-\xff\xfe"
    os.mkdir(maps)
    names = []
    for i, item in enumerate(items):
        name = (b"m\xe9-" if i == 1 else b"") + os.fsencode(Path(item["map"]).name)
        Path(os.fsdecode(maps + b"/" + name)).write_bytes((src.parent / item["map"]).read_bytes())
        item["map"] = os.fsdecode(name)  # "m\udce9-...": the manifest holds it as \udce9
        names.append(maps + b"/" + name)
    items[2]["id"] = "q\ud800"
    items[3]["query"] = "\udfff query"
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in items))
    out = os.fsencode(tmp_path) + b"/run-\xff"
    cmd = [sys.executable, "-m", "selo_metrics.cli", "score", str(manifest), maps, "--out", out,
           "--workers", workers, "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert first.returncode == 0, first.stderr.decode(errors="replace")
    journal = Path(os.fsdecode(out)) / "samples.jsonl"
    rows = rows_by_index(journal)
    assert [os.fsencode(rows[i]["map"]) for i in range(4)] == names
    assert rows[2]["id"] == "q\ud800" and rows[3]["query"] == "\udfff query"
    assert all("error" not in r for r in rows.values())
    before = journal.read_bytes()
    again = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode(errors="replace")
    assert b"4 already recorded" in again.stderr
    assert journal.read_bytes() == before
    summary = json.loads((Path(os.fsdecode(out)) / "summary.json").read_text(encoding="utf-8"))
    assert os.fsencode(summary["run"]["maps_dir"]) == maps
    assert summary["count"] == 4 and summary["scored"] == 4


# -- resuming checks what it resumes (issue 13, item 10) ------------------------------------

def test_a_nan_attribute_groups_alike_before_and_after_a_resume(tmp_path):
    manifest = make_test_set(tmp_path / "set", n=6, broken=False, size=160)
    items = [json.loads(x) for x in manifest.read_text().splitlines()]
    items[0]["attributes"]["cloud"] = float("nan")
    items[1]["attributes"]["cloud"] = 0.5
    manifest.write_text("".join(json.dumps(x) + "\n" for x in items))  # NaN, as Python writes
    samples = load_samples(manifest)
    first = score_samples(samples, tmp_path / "r", workers=1, limit=4).summary
    again = score_samples(samples, tmp_path / "r", workers=1, limit=4).summary
    assert first["by_attribute"] == again["by_attribute"]
    assert sorted(first["by_attribute"]["cloud"]) == ["0.5", "null"]


def test_rows_of_another_test_set_are_never_reused(tmp_path):
    a = load_samples(make_test_set(tmp_path / "a", n=6, size=160))
    b = load_samples(make_test_set(tmp_path / "b", n=6, size=200))  # the same ids, other GT
    score_samples(a, tmp_path / "r", workers=1)
    (tmp_path / "r" / "run.json").unlink()
    journal = (tmp_path / "r" / "samples.jsonl").read_bytes()
    with pytest.raises(RunDirError, match=r"run\.json"):
        score_samples(b, tmp_path / "r", workers=1)
    assert (tmp_path / "r" / "samples.jsonl").read_bytes() == journal


@pytest.mark.parametrize(("field", "value", "words"), [
    ("id", "q999", "'q999'"),
    ("index", 40, "index 40"),
    ("query", "another query", "query"),
    ("map", "/elsewhere/other.png", "other.png"),
])
def test_a_row_that_is_not_its_indexs_sample_is_refused(tmp_path, field, value, words):
    samples = load_samples(make_test_set(tmp_path / "set", n=6, size=160))
    score_samples(samples, tmp_path / "r", workers=1, limit=3)
    journal = tmp_path / "r" / "samples.jsonl"
    rows = [json.loads(x) for x in journal.read_text().splitlines()]
    rows[1][field] = value
    journal.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(RunDirError, match=words):
        score_samples(samples, tmp_path / "r", workers=1)


def test_a_moved_maps_directory_still_resumes(tmp_path):
    manifest = make_test_set(tmp_path / "set", n=6, size=160)
    score_samples(load_samples(manifest), tmp_path / "r", workers=1, limit=3)
    (tmp_path / "new").mkdir()
    (tmp_path / "set" / "maps").rename(tmp_path / "new" / "maps")
    res = score_samples(load_samples(manifest, tmp_path / "new"), tmp_path / "r", workers=1)
    assert res.skipped == 3  # rows of the same files, read from their new place


def test_changing_an_attribute_is_another_test_set(tmp_path):
    manifest = make_test_set(tmp_path / "set", n=6, size=160)
    score_samples(load_samples(manifest), tmp_path / "r", workers=1, limit=2)
    items = [json.loads(x) for x in manifest.read_text().splitlines()]
    items[4]["attributes"]["source"] = "S9"  # a sample outside the first run's --limit
    manifest.write_text("".join(json.dumps(x) + "\n" for x in items))
    with pytest.raises(RunDirError, match="different test set"):
        score_samples(load_samples(manifest), tmp_path / "r", workers=1)
