"""Every usage problem of the command line: one ``error:`` line and exit status 2.

Never a traceback, never a failure row per sample for a problem of the whole run, and the
run directory stays resumable: after the problem is fixed, the same command finishes the run
with the rows of an uninterrupted one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selo_metrics import journal as journal_module
from selo_metrics.cli import main
from tests.selo_metrics.testsets import make_test_set, rows_by_index

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    return make_test_set(tmp_path_factory.mktemp("small"), n=6, size=160)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``selo-metrics`` in this process: (status, stdout, stderr)."""
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_usage_error(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    assert "error:" in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err


def score(capsys, manifest: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return cli(capsys, "score", manifest, "--out", out, "--workers", "1", "--no-progress",
               *extra)


# -- the run directory ---------------------------------------------------------------------

def test_run_dir_that_is_a_file(capsys, small_set, tmp_path):
    (tmp_path / "run").write_text("not a directory")
    assert_usage_error(*score(capsys, small_set, tmp_path / "run")[::2], "not a directory")


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory this process cannot write into (a read-only mount when run as root)."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("root, and no read-only mount possible here")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_read_only_run_dir(capsys, small_set, read_only_dir):
    assert_usage_error(*score(capsys, small_set, read_only_dir)[::2], str(read_only_dir))


@pytest.mark.parametrize("name", ["samples.jsonl", "summary.json", "run.json"])
def test_a_run_dir_file_that_is_a_directory(capsys, small_set, tmp_path, name):
    (tmp_path / "run" / name).mkdir(parents=True)
    if name == "summary.json":  # a finished journal, so that only summary.json is in the way
        assert score(capsys, small_set, tmp_path / "ok")[0] == 1
        for other in ("run.json", "samples.jsonl"):
            shutil.copy(tmp_path / "ok" / other, tmp_path / "run" / other)
    assert_usage_error(*score(capsys, small_set, tmp_path / "run")[::2], name)


@pytest.mark.parametrize("content", ["[]", '"x"', "1", "{", "[" * 100_000, "1" * 4400],
                         ids=["list", "string", "number", "torn", "deep", "4400 digits"])
def test_a_run_json_that_is_not_an_object(capsys, small_set, tmp_path, content):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(content)
    assert_usage_error(*score(capsys, small_set, tmp_path / "run")[::2], "run.json")


@pytest.mark.parametrize("line", [
    "[1, 2]", '"row"', '{"id": "q000"}', '{"index": "0", "id": "q000"}',
    '{"index": true, "id": "q000"}', '{"index": -1, "id": "q000"}', '{"index": 0}',
    '{"index": 0, "id": "q000", "error": "boom"}', '{"index": 0, "id": "q000", "rmi": "x"}',
    '{"index": 0, "id": "q000", "rmi": ' + "1" * 4400 + "}", "[" * 100_000,
], ids=["list", "string", "no index", "index a string", "index a bool", "index -1", "no id",
        "error a string", "rmi a string", "4400 digits", "deep"])
@pytest.mark.parametrize("where", ["first", "last"])
def test_non_row_lines_in_the_journal(capsys, small_set, tmp_path, line, where):
    assert score(capsys, small_set, tmp_path / "run", "--limit", "2")[0] == 0
    journal = tmp_path / "run" / "samples.jsonl"
    rows = journal.read_text().splitlines()
    lines = [line, *rows] if where == "first" else [*rows, line]
    journal.write_text("\n".join(lines) + "\n")
    before = journal.read_bytes()
    rc, _, err = score(capsys, small_set, tmp_path / "run")
    assert_usage_error(rc, err, "samples.jsonl", f"line {1 if where == 'first' else 3}")
    assert journal.read_bytes() == before  # refused, not repaired
    rc, _, err = cli(capsys, "compare", tmp_path / "run")
    assert_usage_error(rc, err, "samples.jsonl")


def test_a_full_disk_stops_with_a_message_and_the_run_resumes(capsys, small_set, tmp_path,
                                                               monkeypatch):
    """ENOSPC in the journal's append, simulated in this process."""
    real_write = os.write
    calls = {"n": 0}

    def write(fd, data):
        if not os.readlink(f"/proc/self/fd/{fd}").endswith("samples.jsonl"):
            return real_write(fd, data)
        calls["n"] += 1
        if calls["n"] == 3:  # the third row: half of it reaches the disk, then the disk is full
            real_write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(journal_module.os, "write", write)
    rc, _, err = score(capsys, small_set, tmp_path / "run")
    assert_usage_error(rc, err, "No space left on device", "re-run")
    monkeypatch.undo()
    assert score(capsys, small_set, tmp_path / "run")[0] == 1  # sample 3 and 5 are broken
    assert score(capsys, small_set, tmp_path / "ref")[0] == 1
    assert rows_by_index(tmp_path / "run" / "samples.jsonl") == \
        rows_by_index(tmp_path / "ref" / "samples.jsonl")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 48 KiB tmpfs (root only); yields a function that grows it."""
    path = tmp_path / "disk"
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(path)],
            capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs to fill a real disk")

    def grow():
        subprocess.run(["mount", "-o", "remount,size=4m", str(path)], check=True)

    try:
        yield path, grow
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_real_full_disk(capsys, tmp_path, tiny_disk):
    disk, grow = tiny_disk
    manifest = make_test_set(tmp_path / "set", n=160, size=160, broken=False)
    rc, _, err = score(capsys, manifest, disk / "run")
    assert_usage_error(rc, err, "No space left on device")
    grow()
    assert score(capsys, manifest, disk / "run")[0] == 0
    assert score(capsys, manifest, tmp_path / "ref")[0] == 0
    assert rows_by_index(disk / "run" / "samples.jsonl") == \
        rows_by_index(tmp_path / "ref" / "samples.jsonl")


# -- options and the environment -----------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["score", "{set}", "--out", "{out}", "--workers", "0"],
    ["score", "{set}", "--out", "{out}", "--workers", "-2"],
    ["score", "{set}", "--out", "{out}", "--limit", "-1"],
    ["score", "{set}", "--out", "{out}", "--workers", "two"],
    ["demo", "--out", "{out}", "--workers", "0"],
    ["demo", "--out", "{out}", "--limit", "-1"],
    ["compare", "{out}", "--top", "-1"],
])
def test_bad_numbers_in_options(capsys, small_set, tmp_path, args):
    args = [a.format(set=small_set, out=tmp_path / "out") for a in args]
    rc, _, err = cli(capsys, *args)
    assert_usage_error(rc, err, args[-2])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5"])
def test_a_bad_selo_num_threads_is_one_error_not_a_failure_per_sample(
        capsys, small_set, tmp_path, monkeypatch, value):
    monkeypatch.setenv("SELO_NUM_THREADS", value)
    rc, _, err = score(capsys, small_set, tmp_path / "run")
    assert_usage_error(rc, err, "SELO_NUM_THREADS", repr(value))
    assert not (tmp_path / "run" / "samples.jsonl").exists()


def test_an_unreachable_dask_scheduler_fails_fast(capsys, small_set, tmp_path):
    pytest.importorskip("distributed")
    t0 = time.monotonic()
    rc, _, err = score(capsys, small_set, tmp_path / "run", "--dask", "tcp://127.0.0.1:9")
    assert_usage_error(rc, err, "tcp://127.0.0.1:9", "Dask scheduler")
    assert time.monotonic() - t0 < 20
    assert len(err.strip().splitlines()) <= 3, err


# -- annotation files ----------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "words"), [
    ("latin-1", ["UTF-8"]), ("utf-16", ["UTF-16"]), ("utf-32", ["UTF-32"]),
])
def test_a_manifest_not_in_utf8(capsys, small_set, tmp_path, encoding, words):
    text = small_set.read_text().replace("synthetic query", "requête synthétique")
    path = tmp_path / "m.jsonl"
    path.write_bytes(text.encode(encoding))
    assert_usage_error(*score(capsys, path, tmp_path / "run")[::2], "m.jsonl", *words)


def test_a_utf8_manifest_with_a_byte_order_mark_is_read(capsys, small_set, tmp_path):
    path = tmp_path / "set" / "m.json"
    path.parent.mkdir()
    shutil.copytree(small_set.parent / "maps", tmp_path / "set" / "maps")
    rows = [json.loads(x) for x in small_set.read_text().splitlines()]
    path.write_bytes(json.dumps(rows).encode("utf-8-sig"))
    assert score(capsys, path, tmp_path / "run")[0] == 1  # samples 3 and 5 are broken


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
@pytest.mark.parametrize("absurd", ["1" * 4400, "[" * 100_000 + "]" * 100_000,
                                    '{"a":' * 50_000 + "1" + "}" * 50_000],
                         ids=["4400 digits", "deep lists", "deep objects"])
def test_absurd_json_in_a_manifest(capsys, tmp_path, suffix, absurd):
    path = tmp_path / f"m{suffix}"
    item = '{"id": "a", "map": "a.png", "polygons": ' + absurd + "}"
    path.write_text(item if suffix == ".jsonl" else f"[{item}]")
    assert_usage_error(*score(capsys, path, tmp_path / "run")[::2], f"m{suffix}")


# -- compare -------------------------------------------------------------------------------

@pytest.mark.parametrize("summary", [
    "{", "[]", "{}", '{"count": 3}', "1" * 4400, "[" * 100_000,
    '{"count": 1, "scored": 1, "failed": 0, "rmi": "high", "rsu": 1, "ras": 0, "rda": 1,'
    ' "seconds_per_map": 0.1}',
], ids=["torn", "list", "empty", "count only", "4400 digits", "deep", "rmi a string"])
def test_compare_on_a_damaged_summary(capsys, small_set, tmp_path, summary):
    assert score(capsys, small_set, tmp_path / "good", "--limit", "2")[0] == 0
    shutil.copytree(tmp_path / "good", tmp_path / "bad")
    (tmp_path / "bad" / "summary.json").write_text(summary)
    rc, _, err = cli(capsys, "compare", tmp_path / "good", tmp_path / "bad")
    assert_usage_error(rc, err, "summary.json")


# -- the same through a real process: no traceback on stderr ---------------------------------

def test_usage_errors_in_a_real_process(small_set, tmp_path):
    (tmp_path / "file").write_text("x")
    env = dict(os.environ, PYTHONPATH=str(ROOT), SELO_NUM_THREADS="abc")
    for args in (["score", str(small_set), "--out", str(tmp_path / "file")],
                 ["score", str(small_set), "--out", str(tmp_path / "r"), "--workers", "0"],
                 ["score", str(small_set), "--out", str(tmp_path / "r")]):
        done = subprocess.run([sys.executable, "-m", "selo_metrics.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert_usage_error(done.returncode, done.stderr)
