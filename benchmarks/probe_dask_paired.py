"""The same maps scored at the same moment in a Dask worker and in a local pool worker.

One worker on each side, so both run side by side on the 2 cores under the same load: the
task thread's CPU time per map compares the two workers themselves (their environment,
their event loop), free of the load's drift between runs. Each side scores 8 maps either one
per task (``single``) or as one task (``batch``, :func:`selo_metrics.dask_backend.score_batch`).

    python benchmarks/probe_dask_paired.py --n 96 --dask single --pool single
    python benchmarks/probe_dask_paired.py --n 96 --dask batch --pool single
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

from probe_dask import DEFAULT_MANIFEST


def timed(sample) -> dict:
    """``score_sample`` and the CPU time of the thread that ran it."""
    from selo_metrics.runner import score_sample

    c0 = time.thread_time()
    row = score_sample(sample)
    return {"cpu": time.thread_time() - c0, "rmi": row.get("rmi")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--dask", choices=["single", "batch"], default="single")
    parser.add_argument("--pool", choices=["single", "batch"], default="single")
    args = parser.parse_args()
    import probe_dask_paired as me  # by reference in the workers

    from selo_metrics import dask_backend, load_samples, workers

    samples = load_samples(args.manifest)[: args.n]
    pool = workers.worker_pool(1, 1)
    out = []
    with contextlib.ExitStack() as stack:
        client = dask_backend._dask_client(stack, "local", 1)
        client.run(dask_backend._dask_worker_setup)
        client.submit(dask_backend.score_batch, me.timed, samples[:2], pure=False).result()
        workers.submit(pool, dask_backend.score_batch, me.timed, samples[:2]).result()
        for i in range(0, len(samples), 8):
            chunk = samples[i:i + 8]
            if args.dask == "batch":
                fd = [client.submit(dask_backend.score_batch, me.timed, chunk, pure=False)]
            else:
                fd = [client.submit(me.timed, s, pure=False) for s in chunk]
            if args.pool == "batch":
                fp = [workers.submit(pool, dask_backend.score_batch, me.timed, chunk)]
            else:
                fp = [workers.submit(pool, me.timed, s) for s in chunk]
            d = [x for f in fd for x in (f.result() if args.dask == "batch" else [f.result()])]
            p = [x for f in fp for x in (f.result() if args.pool == "batch" else [f.result()])]
            out += list(zip(d, p, strict=True))
        workers.stop_pool(pool, wait_for_work=True)
    assert all(a["rmi"] == b["rmi"] for a, b in out)
    sd, sp = sum(d["cpu"] for d, _ in out), sum(p["cpu"] for _, p in out)
    ratios = [d["cpu"] / p["cpu"] for d, p in out]
    quart = [round(q, 3) for q in statistics.quantiles(ratios, n=4)]
    print(f"{len(out)} maps: Dask {args.dask} {sd:.2f} s, pool {args.pool} {sp:.2f} s of task "
          f"CPU: ratio {sd / sp:.3f}; per map median {statistics.median(ratios):.3f}, "
          f"quartiles {quart}")


if __name__ == "__main__":
    main()
