"""Killing the command line or one of its workers: nothing keeps running, nothing is lost.

Real signals on real processes: the CLI killed alone (as ``kill PID`` or a CI timeout does)
must take its worker processes, the multiprocessing forkserver and the resource tracker with
it and let a pipe reading its output reach EOF; a worker killed mid-run must cost no row.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selo_metrics import load_samples, score_samples
from selo_metrics.runner import score_sample
from tests.selo_metrics.killers import dask_settings, score_or_die
from tests.selo_metrics.testsets import make_test_set, rows_by_index

ROOT = Path(__file__).parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[1] == pid:
                kids.append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def running(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pool_workers(cli_pid: int) -> list[int]:
    """The worker processes of the CLI's pool: the children of its forkserver."""
    servers = [p for p in children(cli_pid) if "forkserver" in _cmdline(p)]
    return [w for s in servers for w in children(s)]


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def read_to_eof(fd: int, timeout: float) -> tuple[bytes, bool]:
    """Everything a pipe gives until EOF or ``timeout``; (data, whether EOF came)."""
    data, deadline = b"", time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                return data, True
            data += chunk
    return data, False


@pytest.fixture(scope="module")
def big_set(tmp_path_factory):
    """40 maps of about 1000 px a side (slow enough to kill mid-run) and the reference rows."""
    root = tmp_path_factory.mktemp("big")
    manifest = make_test_set(root / "set", n=40, size=1000)
    score_samples(load_samples(manifest), root / "ref", workers=1)
    return manifest, rows_by_index(root / "ref" / "samples.jsonl")


def _score_cmd(manifest: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "selo_metrics.cli", "score", str(manifest), "--out", str(run),
            "--workers", "2", "--no-progress"]


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("how", [
    "SIGKILL", "SIGTERM", pytest.param("SIGINT", marks=pytest.mark.slow),
    pytest.param("SIGINT to the group", marks=pytest.mark.slow),
])
def test_killing_the_cli_ends_its_workers_and_its_output_pipe(big_set, tmp_path, how):
    manifest, want = big_set
    run = tmp_path / "run"
    r, w = os.pipe()
    proc = subprocess.Popen(_score_cmd(manifest, run), env=ENV, stdout=w, stderr=w,
                            start_new_session=True)
    os.close(w)
    family: list[int] = []
    try:
        wait_for(lambda: lines(run / "samples.jsonl") >= 2, 120, "the run made no progress")
        family = descendants(proc.pid)
        assert len(pool_workers(proc.pid)) == 2, family
        sig = getattr(signal, how.split()[0])
        if how.endswith("group"):  # Ctrl-C in a terminal: the whole foreground group
            os.killpg(proc.pid, sig)
        else:  # `kill PID`, a CI timeout: the CLI process alone
            os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        output, eof = read_to_eof(r, 30)
        text = output.decode(errors="replace")
        assert eof, f"the output pipe is still open after 30 s: {text[-2000:]}"
        wait_for(lambda: not any(running(p) for p in family), 30,
                 f"processes left running: {[(p, _cmdline(p)) for p in family if running(p)]}")
        if how != "SIGKILL":
            assert proc.returncode == 128 + sig, text[-2000:]
            assert "interrupted" in text and "Traceback" not in text, text[-2000:]
            assert not (run / "summary.json").exists()
    finally:
        os.close(r)
        if proc.poll() is None:
            proc.kill()
        _kill_all(family)
    assert lines(run / "samples.jsonl") < 40, "the signal should strike mid-run"
    done = subprocess.run(_score_cmd(manifest, run), env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stderr  # the test set's 3 broken samples
    assert rows_by_index(run / "samples.jsonl") == want


def test_a_worker_killed_mid_run_costs_no_row(big_set, tmp_path):
    manifest, want = big_set
    run = tmp_path / "run"
    proc = subprocess.Popen(_score_cmd(manifest, run), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: lines(run / "samples.jsonl") >= 3, 120, "the run made no progress")
        workers = pool_workers(proc.pid)
        assert workers
        os.kill(workers[0], signal.SIGKILL)  # the out-of-memory killer, say
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, err  # only the test set's 3 broken samples failed
    assert "Traceback" not in err and "BrokenProcessPool" not in err, err
    assert rows_by_index(run / "samples.jsonl") == want


@pytest.fixture(scope="module")
def small_samples(tmp_path_factory):
    manifest = make_test_set(tmp_path_factory.mktemp("small"), n=10, size=160, broken=False)
    return load_samples(manifest)


def test_a_sample_that_kills_its_worker_is_its_own_failure(small_samples):
    from selo_metrics.workers import pool_rows

    task = functools.partial(score_or_die, poison=frozenset({"q002", "q006"}))
    rows = list(pool_rows(small_samples, task, workers=2, threads=1))
    assert sorted(r["id"] for r in rows) == [s.id for s in small_samples]  # each once
    for row in rows:
        sample = small_samples[row["index"]]
        if sample.id in ("q002", "q006"):
            assert row["error"]["type"] == "WorkerDied", row
            assert "SIGKILL" in row["error"]["message"] and "--retry-failed" in \
                row["error"]["message"]
        else:
            want = score_sample(sample)
            assert {k: row[k] for k in ("rsu", "ras", "rda", "rmi")} == \
                {k: want[k] for k in ("rsu", "ras", "rda", "rmi")}


def test_workers_that_keep_dying_stop_the_run_with_a_message(small_samples):
    from selo_metrics.workers import WorkerError, pool_rows

    task = functools.partial(score_or_die, poison=frozenset(s.id for s in small_samples))
    rows = []
    with pytest.raises(WorkerError, match="keep dying"):
        for row in pool_rows(small_samples, task, workers=2, threads=1):
            rows.append(row)
    assert len(rows) <= 2


def test_a_dask_worker_that_dies_is_the_samples_failure_not_killedworker(small_samples):
    pytest.importorskip("distributed")
    import dask

    from selo_metrics.workers import dask_rows

    task = functools.partial(score_or_die, poison=frozenset({"q000"}))
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}):
        rows = list(dask_rows(small_samples[:3], task, "local", workers=1))
    by_id = {r["id"]: r for r in rows}
    assert sorted(by_id) == ["q000", "q001", "q002"]  # one row each, the run went on
    assert by_id["q000"]["error"]["type"] == "WorkerDied"
    assert "Dask workers" in by_id["q000"]["error"]["message"]
    assert "error" not in by_id["q001"] and "error" not in by_id["q002"]


def test_a_local_dask_cluster_is_quiet_and_forked(small_samples):
    """``--dask local`` workers run without Dask's profiler and with slower monitors, forked
    from the runner's forkserver (measured: docs/performance.md); a cluster given by address
    keeps its own settings."""
    pytest.importorskip("distributed")
    import multiprocessing

    from selo_metrics.workers import dask_rows

    (got,) = dask_rows(small_samples[:1], dask_settings, "local", workers=1)
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    assert got == {"distributed.worker.profile.enabled": False,
                   "distributed.worker.memory.monitor-interval": "500ms",
                   "distributed.worker.multiprocessing-method": method}


def test_a_lost_forkserver_status_is_named_as_such():
    """The forkserver reports 255 when it could not read a dead worker's status (seen for a
    worker that SIGKILLed itself): the row says so instead of a plain 'status 255'."""
    from selo_metrics.workers import _death

    assert _death([-signal.SIGKILL]).startswith("was killed by SIGKILL")
    assert "real status was lost" in _death([255]) and "SIGKILL" in _death([255])
    assert _death([3]) == "exited with status 3"
    assert _death([None, 0]) == "died"
