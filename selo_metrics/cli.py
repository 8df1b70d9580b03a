"""The ``selo-metrics`` command line: ``score``, ``compare`` and ``demo``.

    selo-metrics score ANNO [MAPS_DIR] --out RUN_DIR [--workers N] [--convention slm|paper]
                       [--dask ADDRESS|local] [--overlays] [--limit N] [--retry-failed]
                       [--metrics selo,rrsis] [--rrsis-size N]
    selo-metrics compare RUN_A RUN_B ...
    selo-metrics report RUN_DIR [RUN_DIR ...] --out report.html   (see cli_report)
    selo-metrics demo [--out DIR] [--kinds ...] [--limit N]

Exit status: 0 when every sample was scored; 1 when some could not be (their errors are
recorded; the summary covers the rest); 2 when the run cannot go on: unusable input or
options (annotation file, maps directory, run directory, ``SELO_NUM_THREADS``), a full or
read-only disk, worker processes that keep dying, an unreachable Dask scheduler; 130 after
SIGINT (Ctrl-C) and 143 after SIGTERM. After 2, 130 and 143 every finished sample is saved:
the same command resumes.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._kernels import available_cpus
from ._kernels.interrupts import deferrable
from .cli_report import add_report_parser
from .data import SYNTHETIC_KINDS, load_air_slt, scene_size, synthetic_map
from .errors import SeLoInputError
from .report import format_attribute_table, format_compare, format_table
from .rrsis_run import parse_metrics
from .runner import load_run, score_samples
from .samples import load_samples
from .workers import WorkerError, stop_pool, submit, worker_pool

__all__ = ["build_parser", "main"]


def _print_failures(summary: dict[str, Any], limit: int = 10) -> None:
    failures = summary.get("failures", [])
    if not failures:
        return
    print(f"\n{len(failures)} sample(s) could not be scored:")
    for f in failures[:limit]:
        err = f["error"]
        print(f"  [{f['index']}] {f['id']}: {err['type']}: {err['message']}")
    if len(failures) > limit:
        print(f"  ... and {len(failures) - limit} more (summary.json lists them all)")


def _metrics_arg(text: str) -> tuple[str, ...]:
    try:
        return parse_metrics(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _score(args: argparse.Namespace) -> int:
    if args.rrsis_size is not None and ("rrsis" not in args.metrics or args.rrsis_size < 1):
        raise SeLoInputError("--rrsis-size N (N >= 1) needs --metrics with rrsis")
    samples = load_samples(args.anno, args.maps_dir)
    source = {"anno": str(Path(args.anno).resolve()),
              "maps_dir": None if args.maps_dir is None else str(Path(args.maps_dir).resolve())}
    t0 = time.perf_counter()
    res = score_samples(
        samples, args.out, workers=args.workers, convention=args.convention, dask=args.dask,
        overlays=args.overlays, limit=args.limit, retry_failed=args.retry_failed,
        progress=False if args.no_progress else None, source=source,
        metrics=args.metrics, rrsis_size=args.rrsis_size,
    )
    wall = time.perf_counter() - t0
    s = res.summary
    if res.dropped_torn_line:
        print("note: dropped a torn last line of samples.jsonl (an interrupted write); "
              "that sample was scored again", file=sys.stderr)
    print(format_table([(Path(args.out).name or str(args.out), s)]))
    attrs = format_attribute_table(s)
    if attrs:
        print("\nBy attribute:\n" + attrs)
    _print_failures(s)
    if res.stale_failures:
        print(f"\nnote: {res.stale_failures} failure(s) recorded by an earlier run were not "
              "scored again; if their maps are fixed now, re-run with --retry-failed",
              file=sys.stderr)
    print(
        f"\n{s['count']} sample(s) in the run: {s['scored']} scored, {s['failed']} failed"
        + (f", {s['pending']} pending" if s["pending"] else "")
        + f". This invocation: {res.scored_now} scored, {res.failed_now} failed, "
        f"{res.skipped} already recorded; {wall:.1f} s wall ({s['run']['backend']}); "
        f"metrics time {s['seconds_total']:.1f} s in all.\n"
        f"Rows: {res.run_dir / 'samples.jsonl'}   Summary: {res.run_dir / 'summary.json'}",
        file=sys.stderr,
    )
    return 1 if s["failed"] or s["pending"] else 0


def _compare(args: argparse.Namespace) -> int:
    runs = []
    for run_dir in args.runs:
        summary, rows = load_run(run_dir)
        runs.append((Path(run_dir).name or str(run_dir), summary, rows))
    names = [n for n, _, _ in runs]
    if len(set(names)) < len(names):  # two runs named alike: show their paths instead
        runs = [(str(d), s, r) for d, (_, s, r) in zip(args.runs, runs, strict=True)]
    print(format_compare(runs, top=args.top))
    return 0


def _write_demo_map(kind: str, shape: tuple[int, int], points: Any, idx: int,
                    maps_dir: str) -> None:
    from PIL import Image

    gray = synthetic_map(shape, points, kind=kind, seed=idx)
    # what the official SeLo generator writes: probmap_{idx}.jpg
    Image.fromarray(gray).save(Path(maps_dir) / f"probmap_{idx}.jpg", quality=95)


def _demo(args: argparse.Namespace) -> int:
    if args.out:
        return _run_demo(args, Path(args.out), temporary=False)
    with tempfile.TemporaryDirectory(prefix="selo-demo-") as tmp:  # ~74 MB of maps: removed
        return _run_demo(args, Path(tmp), temporary=True)


def _run_demo(args: argparse.Namespace, out: Path, *, temporary: bool) -> int:
    t_start = time.perf_counter()
    anno = load_air_slt()
    if args.limit is not None:
        anno = anno[: args.limit]
    out.mkdir(parents=True, exist_ok=True)
    anno_path = out / "anno.json"
    anno_path.write_text(json.dumps(anno))
    scenes = {item["jpg_name"] for item in anno}
    print(
        f"selo-metrics demo: the {len(anno)} AIR-SLT queries ({len(scenes)} scenes) against "
        f"deterministic SYNTHETIC maps\n(no model, no scene image: three synthetic 'models' "
        f"draw maps around the bundled polygons),\nwritten as probmap_{{idx}}.jpg and scored "
        f"by the runner into {out} (convention {args.convention!r})\n",
        file=sys.stderr,
    )
    workers = args.workers or available_cpus()
    todo = []
    for kind in args.kinds:
        maps_dir = out / f"maps_{kind}"
        maps_dir.mkdir(exist_ok=True)
        todo += [(kind, scene_size(anno, item["jpg_name"]), item["points"], idx, str(maps_dir))
                 for idx, item in enumerate(anno)
                 if not (maps_dir / f"probmap_{idx}.jpg").exists()]
    pool = worker_pool(workers)
    clean = False
    try:
        futures = [submit(pool, _write_demo_map, *t) for t in todo]
        # meanwhile, compile (or load from the cache) the kernels once in this process, so
        # that the scoring workers find them cached
        import numpy as np

        from .metrics import evaluate

        evaluate(np.zeros((64, 64), np.uint8), [[(8, 8), (40, 8), (40, 40)]])
        for f in futures:
            f.result()
        clean = True
    finally:
        stop_pool(pool, wait_for_work=clean)
    t_maps = time.perf_counter() - t_start
    summaries = []
    for kind in args.kinds:
        samples = load_samples(anno_path, out / f"maps_{kind}")
        res = score_samples(samples, out / f"run_{kind}", workers=workers,
                            convention=args.convention, progress=False,
                            source={"anno": str(anno_path.resolve()),
                                    "maps_dir": str((out / f"maps_{kind}").resolve())})
        summaries.append((kind, res.summary))
    print(format_table(summaries))
    print()
    for kind in args.kinds:
        print(f"{kind}: {SYNTHETIC_KINDS[kind]}")
    total = time.perf_counter() - t_start
    runs = [str(out / f"run_{k}") for k in args.kinds]
    where = ("The maps and runs were in a temporary directory, now removed; keep them with "
             "--out DIR." if temporary else
             f"Runs: {', '.join(runs)}\nCompare them: selo-metrics compare {' '.join(runs)}")
    print(f"\n{total:.1f} s in all on {workers} worker(s): {t_maps:.1f} s drawing and writing "
          f"the maps (and loading the kernels), {total - t_maps:.1f} s scoring them "
          f"(s/map: reading the JPEG + the metrics, per worker).\n{where}", file=sys.stderr)
    return 0


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``selo-metrics``."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="selo-metrics",
        description="Exact, fast SeLo metrics (Rsu, Ras, Rda, Rmi) for semantic localization.",
        epilog="Exit status: 0 all scored, 1 some samples failed (recorded), 2 usage or "
        "environment problem, 130 / 143 interrupted (SIGINT / SIGTERM; re-run to resume).",
    )
    parser.add_argument("--version", action="version", version=f"selo-metrics {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    score = sub.add_parser(
        "score", help="score a folder of maps against polygon GT into a run directory",
        description="Score every map of a test set into RUN_DIR (samples.jsonl, summary.json)."
        " Re-running into the same RUN_DIR resumes.",
    )
    score.add_argument("anno", help="AIR-SLT anno.json, or a manifest (.json / .jsonl)")
    score.add_argument("maps_dir", nargs="?", default=None,
                       help="maps directory (AIR-SLT: probmap_{idx}.jpg / .png; manifest: "
                       "base of relative map paths)")
    score.add_argument("--out", required=True, metavar="RUN_DIR", help="the run directory")
    score.add_argument("--workers", type=_count(1), default=None, metavar="N",
                       help=f"worker processes (default: all cores, here {available_cpus()})")
    score.add_argument("--convention", choices=["slm", "paper"], default="slm",
                       help="slm: the official code (default); paper: the printed equations")
    score.add_argument("--dask", metavar="ADDRESS", default=None,
                       help="a dask.distributed scheduler address, or 'local' for a "
                       "LocalCluster of --workers processes")
    score.add_argument("--overlays", action="store_true",
                       help="write RUN_DIR/overlays/*.png (needs matplotlib)")
    score.add_argument("--limit", type=_count(0), default=None, metavar="N",
                       help="the first N samples only")
    score.add_argument("--retry-failed", action="store_true",
                       help="score again the samples recorded as failed")
    score.add_argument("--no-progress", action="store_true", help="no progress bar")
    score.add_argument("--metrics", type=_metrics_arg, default=("selo",),
                       help="metric families, comma-separated: selo (default; needs polygon "
                       "GT), rrsis (mIoU, oIoU, precision@0.5..0.9; polygon or mask GT)")
    score.add_argument("--rrsis-size", type=_count(1), default=None, metavar="N",
                       help="score the RRSIS metrics at N x N as RMSIN does (480): GT resized "
                       "nearest, prediction bilinear (align_corners); default: the GT's "
                       "own resolution")
    score.set_defaults(func=_score)

    compare = sub.add_parser("compare", help="summary tables of runs side by side",
                             description="The summary tables of finished runs side by side, "
                             "then the samples whose Rmi differs most between them.")
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR",
                         help="run directories written by `selo-metrics score`")
    compare.add_argument("--top", type=_count(0), default=10, metavar="N",
                         help="how many samples with the largest Rmi spread to list")
    compare.set_defaults(func=_compare)
    add_report_parser(sub)

    demo = sub.add_parser(
        "demo",
        help="score synthetic maps drawn around the bundled AIR-SLT polygons (no download)",
        description="Draw deterministic synthetic maps around the 59 bundled AIR-SLT "
        "polygons and score them through the runner (no model, no download).",
    )
    demo.add_argument("--out", default=None, metavar="DIR",
                      help="keep the maps and runs here (default: a temporary directory, "
                      "removed at the end)")
    demo.add_argument("--kinds", nargs="+", default=list(SYNTHETIC_KINDS),
                      choices=list(SYNTHETIC_KINDS), help="synthetic models to score")
    demo.add_argument("--limit", type=_count(0), default=None, metavar="N",
                      help="first N queries only")
    demo.add_argument("--workers", type=_count(1), default=None, metavar="N",
                      help="worker processes (default: all cores)")
    demo.add_argument("--convention", choices=["slm", "paper"], default="slm",
                      help="slm: the official code (default); paper: the printed equations")
    demo.set_defaults(func=_demo)
    return parser


class _Interrupted(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: unwind, keep what is written, say how to resume."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _interrupts() -> Iterator[None]:
    """SIGTERM handled like Ctrl-C; both wait while the kernels' threads work.

    A handler that raises can strike the main thread between a lock's acquire and the
    ``with`` block that releases it; a kernel thread then waits for that lock for ever
    (:mod:`selo_metrics._kernels.interrupts`). Both handlers are deferrable: inside the
    kernels' thread sections they only record the signal, which raises when the section
    ends (a fraction of a second at 10k).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are the main thread's
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise _Interrupted(signum)

    old = {}
    for signum, handler in ((signal.SIGTERM, interrupt),
                            (signal.SIGINT, signal.default_int_handler)):
        current = signal.getsignal(signum)
        # an ignored SIGTERM stays ignored, a SIGINT handler of the caller's is kept
        if current not in (signal.SIG_IGN, None) and (
                signum == signal.SIGTERM or current is signal.default_int_handler):
            old[signum] = signal.signal(signum, deferrable(handler))
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


def _output_errors(exc: UnicodeEncodeError) -> tuple[bytes | str, int]:
    """Print any text: a non-UTF-8 file name's bytes as they are (what ``ls`` shows), other
    unprintable characters as backslash escapes."""
    chars = exc.object[exc.start:exc.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in chars):
        return bytes(ord(c) - 0xDC00 for c in chars), exc.end
    return codecs.backslashreplace_errors(exc)


codecs.register_error("selo-output", _output_errors)


def _safe_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="selo-output")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``selo-metrics`` with ``argv`` (default: the process arguments)."""
    _safe_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _interrupts():
            return int(args.func(args))
    except (SeLoInputError, WorkerError) as exc:  # a message, no traceback
        print(f"selo-metrics {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # CPython ends the process by SIGINT at exit (status -2, not ours) when an interrupt
        # passed through an exec() / eval() of source text on its way here, as numba's code
        # generation does; evaluating text that ends normally clears that mark
        exec("pass")
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"\nselo-metrics {args.command}: interrupted ({signal.Signals(signum).name}); "
              "every finished sample is saved, re-run the same command to resume",
              file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:  # the reader of the output went away (`| head`): stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
