"""A hostile user of the command line: random manifests, odd paths, run directories full of
the wrong things, signals at random moments.

The invariants, whatever comes in:

* ``load_samples`` returns samples or raises ``ManifestError``; nothing else escapes.
* ``selo-metrics score`` ends with status 0, 1 or 2 (2 with one ``error:`` line), never a
  traceback and never a hang; when it scored, the rows read back are the samples they claim,
  and running the same command again resumes with nothing left to do.
* A run interrupted by SIGINT or SIGTERM at any moment, then resumed, has exactly the rows
  of an uninterrupted run (slow: real processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from selo_metrics import ManifestError, load_samples
from selo_metrics.cli import main
from selo_metrics.samples import RESERVED
from tests.selo_metrics.testsets import make_test_set, rows_by_index

ROOT = Path(__file__).parents[2]
QUICK = settings(max_examples=40, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- what a hostile manifest is made of ---------------------------------------------------

ODD_TEXT = st.text(alphabet=st.sampled_from("ab é\n\t\x00\"\\/\ud800\udcff\U0001f600"),
                   max_size=6)
TEXT = st.text(max_size=6) | ODD_TEXT
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | TEXT
           | st.floats(allow_nan=True, allow_infinity=True))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=12)
COORD = st.integers(-40, 200) | st.floats(-1e3, 1e3, allow_nan=False) | JSON
POLYGON = st.lists(st.lists(COORD, min_size=2, max_size=2), max_size=5)
GOOD_POLYGON = st.just([[10, 10], [90, 12], [80, 70], [12, 60]])
MAP = st.sampled_from(["a.png", "b.jpg", "missing.png", "", "sub", "a.png/x", "../a.png",
                       "x" * 300, "bad.png", "empty.png"]) | TEXT
ATTRIBUTES = st.dictionaries(TEXT.filter(lambda k: k not in RESERVED), SCALARS, max_size=3)
VALID_SAMPLE = st.fixed_dictionaries(
    {"id": TEXT | st.integers(-(2**70), 2**70), "map": MAP,
     "polygons": st.lists(GOOD_POLYGON | POLYGON, min_size=1, max_size=3)},
    optional={"query": TEXT, "attributes": ATTRIBUTES},
)
HOSTILE_SAMPLE = st.fixed_dictionaries(
    {"id": TEXT | st.integers(-(2**70), 2**70) | JSON, "map": MAP | JSON},
    optional={
        "polygons": st.lists(GOOD_POLYGON | POLYGON, max_size=3) | JSON,
        "geojson": st.sampled_from(["gt.geojson", "missing.geojson", "sub", "bad.geojson"]),
        "mask": st.sampled_from(["a.png", "missing.png", "sub", "empty.png", ""]) | JSON,
        "query": TEXT | JSON,
        "attributes": ATTRIBUTES | JSON,
        "extra": JSON,
    },
)
AIR_SLT_ENTRY = st.fixed_dictionaries(
    {"caption": TEXT, "jpg_name": TEXT},
    optional={"points": st.lists(GOOD_POLYGON | POLYGON, min_size=1, max_size=2) | JSON},
)
VALID_LIST = st.lists(VALID_SAMPLE, min_size=1, max_size=5, unique_by=lambda x: str(x["id"]))
ITEMS = st.one_of(
    VALID_LIST, VALID_LIST, VALID_LIST,
    st.lists(VALID_SAMPLE | HOSTILE_SAMPLE, min_size=1, max_size=5),
    st.lists(AIR_SLT_ENTRY, min_size=1, max_size=3),
    JSON,
)


def _maps_dir(root: Path) -> Path:
    """Map files of every kind a manifest above may name."""
    root.mkdir(parents=True, exist_ok=True)
    gray = np.zeros((100, 120), np.uint8)
    gray[20:60, 20:80] = 200
    Image.fromarray(gray).save(root / "a.png")
    Image.fromarray(gray).save(root / "b.jpg")
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (root / "empty.png").write_bytes(b"")
    (root / "sub").mkdir()
    (root / "gt.geojson").write_text(json.dumps(
        {"type": "Polygon", "coordinates": [[[10, 10], [90, 10], [90, 70], [10, 10]]]}))
    (root / "bad.geojson").write_text("{")
    Image.fromarray(gray).save(root / "probmap_0.png")  # AIR-SLT names: 0 as PNG, 1 as JPEG
    Image.fromarray(gray).save(root / "probmap_1.jpg")
    return root


def _write(path: Path, items, ascii_only: bool, encoding: str) -> None:
    if path.suffix == ".jsonl" and isinstance(items, list):
        text = "".join(json.dumps(x, ensure_ascii=ascii_only) + "\n" for x in items)
    else:
        text = json.dumps(items, ensure_ascii=ascii_only)
    errors = "surrogatepass" if encoding.startswith("utf") else "replace"
    path.write_bytes(text.encode(encoding, errors=errors))


def _hung(*_: object) -> None:
    raise AssertionError("selo-metrics hung")


@contextlib.contextmanager
def _bounded(seconds: int = 60, memory: int = 4 << 30):
    """An alarm against hangs, and at most ``memory`` more bytes of address space, so that a
    regression reading an endless file (/dev/full) fails here instead of starving the machine.
    """
    import resource

    old_alarm = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(seconds)
    old_limit = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status")
    if status.exists():
        vm = next(int(line.split()[1]) * 1024 for line in status.read_text().splitlines()
                  if line.startswith("VmSize:"))
        hard = old_limit[1]
        resource.setrlimit(resource.RLIMIT_AS, (vm + memory if hard == resource.RLIM_INFINITY
                                                else min(vm + memory, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old_limit)
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_alarm)


def cli(*args) -> tuple[int, str]:
    """``main`` in this process, bounded in time and memory: (status, stderr)."""
    import io

    err = io.StringIO()
    with _bounded(), contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code
    return rc, err.getvalue()


def check_run(manifest: Path, maps: Path | None, run: Path, *extra: str) -> None:
    """The CLI invariants for one manifest (see the module docstring)."""
    args = ["score", manifest, *([maps] if maps else []), "--out", run, "--workers", "1",
            "--no-progress", *extra]
    rc, err = cli(*args)
    event(f"status {rc}")
    assert rc in (0, 1, 2), err
    assert "Traceback" not in err, err
    if rc == 2:
        assert "error:" in err and len(err.strip().splitlines()) <= 3, err
        return
    samples = load_samples(manifest, maps)
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_bytes().split(b"\n") if x]
    assert len(rows) == len((run / "samples.jsonl").read_text("utf-8").splitlines())
    assert sorted(r["index"] for r in rows) == list(range(len(samples)))
    for row in rows:
        sample = samples[row["index"]]
        assert (row["id"], row["query"]) == (sample.id, sample.query)
        assert row["map"] == sample.map
    again, err2 = cli(*args)
    assert again == rc, err2
    assert f"{len(samples)} already recorded" in err2, err2


@settings(QUICK, max_examples=60)
@given(items=ITEMS, suffix=st.sampled_from([".json", ".jsonl"]),
       ascii_only=st.sampled_from([True, True, False]),
       metrics=st.sampled_from(["selo", "selo", "rrsis", "selo,rrsis"]),
       encoding=st.sampled_from(["utf-8"] * 4 + ["utf-8-sig", "latin-1", "utf-16"]),
       with_maps_dir=st.booleans())
def test_any_manifest_loads_or_is_a_manifest_error_and_scores_and_resumes(
        items, suffix, ascii_only, metrics, encoding, with_maps_dir):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        maps = _maps_dir(root / "maps")
        manifest = (maps if not with_maps_dir else root) / f"m{suffix}"
        _write(manifest, items, ascii_only, encoding)
        try:
            samples = load_samples(manifest, maps if with_maps_dir else None)
        except ManifestError:
            samples = None
        assert samples is None or isinstance(samples, list)
        event("manifest error" if samples is None else f"{min(len(samples), 3)}+ samples")
        check_run(manifest, maps if with_maps_dir else None, root / "run", "--metrics",
                  metrics)


# -- paths: odd bytes, long names, links, directories where files belong -------------------

NAME = st.binary(min_size=1, max_size=12).filter(
    lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b".."))


@QUICK
@given(dir_name=NAME, file_name=NAME, long=st.integers(0, 7),
       workers=st.sampled_from(["1", "2"]))
def test_odd_bytes_and_long_names_in_paths(dir_name, file_name, long, workers):
    """Directory and file names of any bytes (and of 250 to 256 bytes) are scored and
    resumed; a name too long for the file system (over 255 bytes) is the sample's failure,
    not the run's."""
    with tempfile.TemporaryDirectory() as tmp:
        root = os.fsencode(tmp)
        maps = root + b"/" + dir_name
        os.mkdir(maps)
        name = (file_name * 300)[: 249 + long] if long else file_name
        gray = np.zeros((90, 90), np.uint8)
        gray[10:50, 10:60] = 255
        try:
            Image.fromarray(gray).save(os.fsdecode(maps + b"/" + name), format="PNG")
        except OSError:
            pass  # too long to create: the sample fails, the run goes on
        manifest = Path(tmp) / "m.jsonl"
        manifest.write_text(json.dumps({"id": "s", "map": os.fsdecode(name),
                                        "polygons": [[[10, 10], [60, 10], [60, 50]]]}) + "\n")
        rc, err = cli("score", manifest, os.fsdecode(maps), "--out",
                      os.fsdecode(root + b"/run-" + dir_name), "--workers", workers)
        assert rc in (0, 1) and "Traceback" not in err, err
        check_run(manifest, Path(os.fsdecode(maps)), Path(os.fsdecode(root + b"/run-" +
                                                                      dir_name)))


ENTRY = st.sampled_from(["absent", "file", "empty", "directory", "dangling link", "link loop",
                         "fifo", "dev null", "dev full", "garbage"])


def _place(path: Path, kind: str, good: bytes | None) -> None:
    if kind == "absent":
        return
    if kind in ("file", "empty"):
        if good is not None:
            path.write_bytes(good if kind == "file" else b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "dangling link":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "link loop":
        path.symlink_to(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev null":
        path.symlink_to("/dev/null")
    elif kind == "dev full":
        path.symlink_to("/dev/full")
    elif kind == "garbage":
        path.write_bytes(b"\xff\xfe{[not json\n\x00")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    manifest = make_test_set(root / "set", n=4, size=160)
    assert main(["score", str(manifest), "--out", str(root / "run"), "--workers", "1",
                 "--no-progress"]) == 1
    files = {n: (root / "run" / n).read_bytes() for n in ("run.json", "samples.jsonl",
                                                           "summary.json")}
    return manifest, files


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run_json=ENTRY, journal=ENTRY, summary=ENTRY, lock=ENTRY, overlays=ENTRY,
       command=st.sampled_from(["score", "compare"]))
def test_a_run_directory_full_of_the_wrong_things(finished_run, run_json, journal, summary,
                                                  lock, overlays, command):
    manifest, files = finished_run
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        for name, kind in (("run.json", run_json), ("samples.jsonl", journal),
                           ("summary.json", summary), (".lock", lock),
                           ("overlays", overlays)):
            _place(run / name, kind, files.get(name, b""))
        if command == "score":
            extra = ["--overlays"] if overlays != "absent" else []
            rc, err = cli("score", manifest, "--out", run, "--workers", "1", "--no-progress",
                          *extra)
        else:
            rc, err = cli("compare", run)
        assert rc in (0, 1, 2), err
        assert "Traceback" not in err, err
        if rc == 2:
            assert "error:" in err, err


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10**6), edits=st.lists(st.tuples(st.integers(0, 10**6),
                                                           st.binary(max_size=3)), max_size=3))
def test_a_journal_cut_anywhere_resumes_and_a_damaged_one_is_refused(finished_run, cut, edits):
    """A journal cut at any byte (a kill mid-write) resumes to the very rows of the full
    run; bytes inserted anywhere give those rows again, or status 2 naming the journal."""
    manifest, files = finished_run
    journal = files["samples.jsonl"]
    want = sorted(journal.splitlines())
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        (run / "run.json").write_bytes(files["run.json"])
        data = journal[: cut % (len(journal) + 1)]
        (run / "samples.jsonl").write_bytes(data)
        args = ("score", manifest, "--out", run, "--workers", "1", "--no-progress")
        rc, err = cli(*args)
        assert rc == 1 and "Traceback" not in err, err  # sample 3 of the set is missing
        got = sorted((run / "samples.jsonl").read_bytes().splitlines())
        assert [_metrics(x) for x in got] == [_metrics(x) for x in want]
        for at, junk in edits:
            data = bytearray((run / "samples.jsonl").read_bytes())
            data[at % (len(data) + 1):at % (len(data) + 1)] = junk
            (run / "samples.jsonl").write_bytes(bytes(data))
        rc, err = cli(*args)
        assert rc in (1, 2) and "Traceback" not in err, err
        if rc == 2:
            assert "samples.jsonl" in err, err


def _metrics(line: bytes) -> tuple:
    row = json.loads(line)
    return tuple(row.get(k) for k in ("index", "id", "rsu", "ras", "rda", "rmi", "error"))


# -- signals at random moments -------------------------------------------------------------

def _holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux: /proc/PID/fd)."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(fd) == str(path):
                return True
    return False


@pytest.fixture(scope="module")
def signal_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    manifest = make_test_set(root / "set", n=30, size=700)
    assert main(["score", str(manifest), "--out", str(root / "ref"), "--workers", "1",
                 "--no-progress"]) == 1
    return manifest, rows_by_index(root / "ref" / "samples.jsonl")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(signals=st.lists(st.tuples(st.sampled_from(["SIGINT", "SIGTERM"]), st.booleans(),
                                  st.floats(0.0, 4.0)), min_size=1, max_size=2),
       workers=st.sampled_from(["1", "2"]))
def test_signals_at_random_moments_then_resume_give_the_uninterrupted_rows(
        signal_set, signals, workers):
    manifest, want = signal_set
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "selo_metrics.cli", "score", str(manifest), "--out",
               str(run), "--workers", workers, "--no-progress"]
        for name, group, delay in signals:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
            try:  # a random moment once this invocation scores (its journal is open)
                deadline = time.monotonic() + 120
                while not _holds_open(proc.pid, run / "samples.jsonl") and proc.poll() is None:
                    assert time.monotonic() < deadline
                    time.sleep(0.005)
                time.sleep(delay)
                sig = getattr(signal, name)
                with contextlib.suppress(ProcessLookupError):
                    (os.killpg if group else os.kill)(proc.pid, sig)
                _, err = proc.communicate(timeout=120)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            err = err.decode(errors="replace")
            # interrupted; or finished before the signal came, or while the process was
            # ending after its summary (then killed by the signal: nothing was left to do)
            finished = "sample(s) in the run" in err
            assert proc.returncode == 128 + sig or (finished and proc.returncode in (1, -sig)
                                                    ), err
            assert "Traceback" not in err, err
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr
        assert rows_by_index(run / "samples.jsonl") == want
