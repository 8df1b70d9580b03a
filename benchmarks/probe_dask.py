"""Where a Dask run's time goes, against the local process pool (same samples, same cores).

Each mode runs in a fresh process (``--child``) that scores the first ``--limit`` samples of
``bench_runner.py``'s synthetic set with the runner's own backends
(:func:`selo_metrics.workers.pool_rows` / :func:`~selo_metrics.workers.dask_rows`), a task
that wraps :func:`selo_metrics.runner.score_sample` and logs, per sample, its worker's pid,
start and end (``time.perf_counter``: CLOCK_MONOTONIC, one clock for all processes), the task
thread's CPU time, page faults and context switches; and a sampler thread that reads the CPU
time of every process (and thread) under the driver every second. It prints, per mode:

* wall, and each process role's CPU seconds (driver = CLI with scheduler + client for Dask;
  workers: task threads and their other threads; the rest: nannies, forkserver, tracker);
* each worker's busy fraction (task wall / the span from the first task's start to the
  run's end) and the gaps between its tasks;
* per map: task CPU, task wall, page faults, involuntary context switches;
* the delay from a task's end on a worker to its row reaching the driver.

    python benchmarks/probe_dask.py --limit 300 --modes local dask local dask
    python benchmarks/probe_dask.py --limit 300 --before /tmp/dask_before \
        --modes local dask-before dask     # modes ending in -before use that checkout's code
    python benchmarks/probe_dask.py --limit 150 --modes dask --profile --keep /tmp/probe
        # cProfile (thread CPU time) of the CLI's and the workers' event loops

The rows are compared between modes (they must be identical but for ``seconds``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = Path(tempfile.gettempdir()) / "selo-bench-xemapset" / \
    "xemapset_like_1129_300_0.jsonl"


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by Python thread name."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for t in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1]
        except (OSError, TypeError):
            continue
        f = fields.split()
        out[t.name] = out.get(t.name, 0.0) + (int(f[11]) + int(f[12])) / tick
    return out


def timed_score(sample, log_dir: str, idle: float = 0.0, **kw):
    """``score_sample`` with its timings appended to ``log_dir/<pid>.jsonl``; then, with
    ``idle``, a sleep of that fraction of the sample's time (a worker idle as often)."""
    from selo_metrics.runner import score_sample

    ru0 = resource.getrusage(resource.RUSAGE_THREAD)
    c0, t0 = time.thread_time(), time.perf_counter()
    row = score_sample(sample, **kw)
    t1, c1 = time.perf_counter(), time.thread_time()
    ru1 = resource.getrusage(resource.RUSAGE_THREAD)
    rec = {"i": sample.index, "pid": os.getpid(), "t0": t0, "t1": t1, "cpu": c1 - c0,
           "minflt": ru1.ru_minflt - ru0.ru_minflt, "majflt": ru1.ru_majflt - ru0.ru_majflt,
           "user": ru1.ru_utime - ru0.ru_utime, "sys": ru1.ru_stime - ru0.ru_stime,
           "nivcsw": ru1.ru_nivcsw - ru0.ru_nivcsw, "nvcsw": ru1.ru_nvcsw - ru0.ru_nvcsw,
           "px": (row["shape"][0] * row["shape"][1]) if "shape" in row else 0,
           "thread": threading.current_thread().name,
           "main": threading.current_thread() is threading.main_thread(),
           "threads_cpu": thread_cpu()}
    if not getattr(timed_score, "env_logged", False):
        timed_score.env_logged = True
        rec["env"] = {k: v for k, v in os.environ.items()
                      if k.startswith(("MALLOC", "OMP", "MKL", "OPENBLAS", "SELO", "NUMBA"))}
        rec["threads"] = [t.name for t in threading.enumerate()]
    with open(Path(log_dir) / f"{os.getpid()}.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    if idle:
        time.sleep(idle * (t1 - t0))
    return row


class Sampler:
    """CPU times of this process and all its descendants (and their threads), every second."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.last: dict[int, dict] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def snap(self) -> None:
        import psutil

        for p in [self.me, *self.me.children(recursive=True)]:
            try:
                with p.oneshot():
                    ct = p.cpu_times()
                    threads = {}
                    for th in p.threads():
                        try:
                            name = Path(f"/proc/{p.pid}/task/{th.id}/comm").read_text().strip()
                        except OSError:
                            name = "?"
                        threads[th.id] = (name, th.user_time + th.system_time)
                    self.last[p.pid] = {"ppid": p.ppid(), "cpu": ct.user + ct.system,
                                        "cmd": " ".join(p.cmdline())[:120],
                                        "threads": threads}
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.snap()
        self.own_cpu = time.thread_time()

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.snap()
        self.stop.set()
        self.thread.join()


_PROF = {}


def _prof_enable() -> None:
    import cProfile

    _PROF["p"] = cProfile.Profile(time.thread_time)  # CPU seconds of this thread
    _PROF["p"].enable()


def _prof_dump(path: str) -> None:
    _PROF["p"].disable()
    _PROF["p"].dump_stats(path.format(pid=os.getpid()))


def _dump_and_set(path: str, event: threading.Event) -> None:
    _prof_dump(path)
    event.set()


def child(args: argparse.Namespace) -> None:
    import probe_dask as me  # by reference, not __main__'s globals pickled by value

    import selo_metrics.workers as workers

    try:
        import selo_metrics.dask_backend as backend
    except ImportError:  # the code before the Dask backend had a module of its own
        backend = workers
    from selo_metrics import load_samples

    samples = load_samples(args.manifest)[: args.limit]
    out_dir = Path(args.out)
    log_dir = out_dir / "tasks"
    log_dir.mkdir(parents=True)
    task = functools.partial(me.timed_score, log_dir=str(log_dir),
                             idle=0.03 if args.mode.endswith("-idle") else 0.0)
    arrivals = {}
    clients = []
    make_client = backend._dask_client

    def capture(*a, **kw):
        client = make_client(*a, **kw)
        clients.append(client)
        if args.profile:
            client.run(me._prof_enable)  # in each worker's event loop thread
            done = threading.Event()
            client.loop.add_callback(lambda: (me._prof_enable(), done.set()))
            done.wait()
        return client

    backend._dask_client = capture
    t_start = time.perf_counter()
    with Sampler() as sampler:
        if args.mode.startswith("dask"):
            rows = workers.dask_rows(samples, task, "local", 2)
        else:
            rows = workers.pool_rows(samples, task, 2, 1)  # "local", "local-idle"
        out = []
        for row in rows:
            arrivals[row["index"]] = time.perf_counter()
            out.append(row)
            if len(out) == len(samples):
                t_rows = time.perf_counter()
                sampler.snap()  # before the generator closes the cluster
                driver_threads = thread_cpu()
                if args.profile and clients:
                    clients[0].run(me._prof_dump, str(out_dir / "worker-{pid}.prof"))
                    dumped = threading.Event()
                    clients[0].loop.add_callback(functools.partial(
                        me._dump_and_set, str(out_dir / "driver.prof"), dumped))
                    dumped.wait()
    t_end = time.perf_counter()
    res = {"mode": args.mode, "wall": t_end - t_start, "rows_wall": t_rows - t_start,
           "t_start": t_start, "t_rows": t_rows, "arrivals": arrivals, "procs": sampler.last,
           "me": os.getpid(), "driver_threads": driver_threads, "sampler": sampler.own_cpu,
           "rows": sorted(({k: v for k, v in r.items() if k != "seconds"} for r in out),
                          key=lambda r: r["index"])}
    (out_dir / "result.json").write_text(json.dumps(res))


def analyse(out: Path) -> dict:
    res = json.loads((out / "result.json").read_text())
    tasks = []
    for f in (out / "tasks").glob("*.jsonl"):
        tasks += [json.loads(line) for line in f.read_text().splitlines()]
    worker_pids = sorted({t["pid"] for t in tasks})
    procs = {int(k): v for k, v in res["procs"].items()}
    me = res["me"]
    cpu = {"driver": procs[me]["cpu"] - res["sampler"], "worker task threads": 0.0,
           "worker other threads": 0.0, "other processes": 0.0}
    other_threads: dict[str, float] = {}
    for pid, p in procs.items():
        if pid == me:
            continue
        if pid in worker_pids:
            task_cpu = sum(t["cpu"] for t in tasks if t["pid"] == pid)
            cpu["worker task threads"] += task_cpu
            cpu["worker other threads"] += p["cpu"] - task_cpu
            last = max((t for t in tasks if t["pid"] == pid), key=lambda t: t["t1"])
            for name, c in last["threads_cpu"].items():
                if name != last["thread"]:
                    name = name.split("-")[0] if name.startswith("Thread-") else name
                    other_threads[name] = other_threads.get(name, 0.0) + c
        else:
            cpu["other processes"] += p["cpu"]
    busy = []
    gaps = []
    for pid in worker_pids:
        mine = sorted((t for t in tasks if t["pid"] == pid), key=lambda t: t["t0"])
        work = sum(t["t1"] - t["t0"] for t in mine)
        span = res["t_rows"] - mine[0]["t0"]
        busy.append(work / span)
        gaps += [b["t0"] - a["t1"] for a, b in itertools.pairwise(mine)]
    first = min(t["t0"] for t in tasks) - res["t_start"]
    ends = [max(t["t1"] for t in tasks if t["pid"] == pid) for pid in worker_pids]
    tail = max(ends) - min(ends)  # one worker idle at the end
    delays = [res["arrivals"][str(t["i"])] - t["t1"] for t in tasks
              if str(t["i"]) in res["arrivals"]]
    mpx = sum(t["px"] for t in tasks) / 1e6
    env = next((t.get("env") for t in tasks if "env" in t), {})
    return {
        "mode": res["mode"], "wall": res["wall"], "rows_wall": res["rows_wall"],
        "first_task_s": first, "tail_s": tail, "cpu": cpu, "sampler_cpu": res["sampler"],
        "driver_threads": {k: round(v, 2) for k, v in res["driver_threads"].items() if v > 0.02},
        "worker_side_threads": {k: round(v, 2) for k, v in sorted(
            other_threads.items(), key=lambda kv: -kv[1]) if v > 0.05},
        "busy": busy, "gap_sum": sum(gaps), "gap_median_ms": 1e3 * statistics.median(gaps),
        "gap_max_ms": 1e3 * max(gaps),
        "task_cpu_ns_per_px": 1e9 * sum(t["cpu"] for t in tasks) / (mpx * 1e6),
        "task_wall_ns_per_px": 1e9 * sum(t["t1"] - t["t0"] for t in tasks) / (mpx * 1e6),
        "task_cpu_s": sum(t["cpu"] for t in tasks),
        "task_wall_s": sum(t["t1"] - t["t0"] for t in tasks),
        "task_sys_s": sum(t["sys"] for t in tasks),
        "minflt_per_map": sum(t["minflt"] for t in tasks) / len(tasks),
        "nivcsw_per_map": sum(t["nivcsw"] for t in tasks) / len(tasks),
        "nvcsw_per_map": sum(t["nvcsw"] for t in tasks) / len(tasks),
        "delay_median_ms": 1e3 * statistics.median(delays), "delay_max_ms": 1e3 * max(delays),
        "task_thread": tasks[0]["thread"], "main_thread": tasks[0]["main"], "env": env,
        "rows": res["rows"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--rounds", type=int, default=1, help="repeat --modes this many times")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--modes", nargs="+", default=["local", "dask", "local", "dask"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout whose selo_metrics the modes ending in '-before' use")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the event loop threads (driver, Dask workers) into "
                        "--keep")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep each run's logs (and profiles) in this folder")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not args.manifest.exists():
        raise SystemExit(f"{args.manifest} is missing: run benchmarks/bench_runner.py once")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")]))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for code in dict.fromkeys([ROOT, *([args.before] if args.before else [])]):
            # warm each checkout's JIT cache once, so no run pays the compilation
            subprocess.run([sys.executable, "-m", "selo_metrics.cli", "score",
                            str(args.manifest), "--out", f"{tmp}/warm{len(str(code))}",
                            "--workers", "1", "--limit", "1", "--no-progress"], check=True,
                           env=dict(env, PYTHONPATH=str(code)), cwd=code, capture_output=True)
        for k, mode in enumerate(args.modes * args.rounds):
            out = Path(tmp) / f"{k}_{mode}"
            load = os.getloadavg()[0]
            if args.keep:
                out = args.keep / f"{k}_{mode}"
            code = args.before if mode.endswith("-before") else ROOT
            child_env = dict(env, PYTHONPATH=os.pathsep.join([str(code),
                                                              str(ROOT / "benchmarks")]))
            subprocess.run([sys.executable, "-m", "probe_dask", "--child", "--mode", mode,
                            "--manifest", str(args.manifest), "--limit", str(args.limit),
                            "--out", str(out), *(["--profile"] if args.profile else [])],
                           check=True, env=child_env, cwd=code)
            r = analyse(out)
            r["load"] = f"{load:.2f} -> {os.getloadavg()[0]:.2f}"
            results.append(r)
            show = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                    if k not in ("rows",)}
            show["cpu"] = {k: round(v, 2) for k, v in r["cpu"].items()}
            show["busy"] = [round(b, 3) for b in r["busy"]]
            print(json.dumps(show), flush=True)
    same = all(r["rows"] == results[0]["rows"] for r in results)
    print(f"rows identical across runs: {same}")
    locals_ = [r["wall"] for r in results if r["mode"] == "local"]
    for mode in dict.fromkeys(r["mode"] for r in results if r["mode"] != "local"):
        walls = [r["wall"] for r in results if r["mode"] == mode]
        for a, b in zip(locals_, walls, strict=False):
            print(f"{mode} / local: {b:.1f} / {a:.1f} = {b / a:.3f}")
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "rows"}
                                         for r in results], indent=1))


if __name__ == "__main__":
    main()
