"""``xemap bench``: does a referring model read the query? Train, then score three ways.

Every named model family (``xemap.models.list_models()``) trains on the synthetic referring
task (:mod:`xemap.data.synthetic`) for a step budget and is scored on held-out scenes
untrained, trained, and trained with another scene's query (the control). Modules:

* ``settings``: `BenchSettings` (task, scoring) and the per-family budgets `FAMILY_DEFAULTS`;
* ``scoring``: the control's pairing, maps into run directories through the
  ``selo-metrics score`` runner, metric blocks;
* ``run``: `run_bench` and `train_and_score`;
* ``report``: the table; ``cli``: the command line.

Importing the package imports nothing heavy.
"""

from __future__ import annotations

__all__ = ["BenchSettings", "run_bench"]


def __getattr__(name: str):
    if name == "BenchSettings":
        from xemap.bench.settings import BenchSettings

        return BenchSettings
    if name == "run_bench":
        from xemap.bench.run import run_bench

        return run_bench
    raise AttributeError(f"module 'xemap.bench' has no attribute {name!r}")
