"""Reference maps of the bench task: what a model that ignores the query scores, and what
reading the query is worth.

No model: each map is the MCMG target (:func:`xemap.data.mcmg_target`) of a set of objects
of the held-out scene, scored exactly as the models' maps are (:func:`score_run`):

``perfect``
    the query's targets (the training target itself);
``all objects``
    every object of the scene: the best a query-blind model can aim for;
``head type``
    every object of the query's head type (``"the red square left of..."``: all red
    squares): reading the head's words and nothing else;
``flat``
    a uniform 0.5 map.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xemap.bench.scoring import metric_block, metric_keys, score_run
from xemap.bench.settings import BenchSettings

__all__ = ["ORACLES", "format_oracle_table", "oracle_maps", "score_oracles"]

ORACLES = ("perfect", "all objects", "head type", "flat")


def oracle_maps(settings: BenchSettings) -> tuple[dict[str, list[np.ndarray]], list[dict]]:
    """The `ORACLES` maps of the held-out scenes, and the held-out samples.

    Examples
    --------
    >>> maps, held = oracle_maps(BenchSettings(n_eval=2))
    >>> sorted(maps), len(held), maps["flat"][0].shape
    (['all objects', 'flat', 'head type', 'perfect'], 2, (64, 64))
    """
    from xemap.data.mcmg import mcmg_target
    from xemap.data.scene_queries import resolve
    from xemap.data.synthetic import make_scenes, samples

    st = settings
    size = st.scene_size
    scenes = make_scenes(st.n_eval, seed=2 * st.seed + 1, balanced=True, size=size, **st.scene)

    def target(objs: list) -> np.ndarray:
        return mcmg_target([o.points() for o in objs], shape=(size, size)) / np.float32(255)

    maps: dict[str, list[np.ndarray]] = {k: [] for k in ORACLES}
    for sc in scenes:
        q = sc.queries[0]
        head = {"head": q.program["head"], "rel": None, "landmark": None}
        maps["perfect"].append(target([sc.objects[i] for i in q.targets]))
        maps["all objects"].append(target(sc.objects))
        maps["head type"].append(target([sc.objects[i] for i in resolve(head, sc.objects)]))
        maps["flat"].append(np.full((size, size), 0.5, np.float32))
    held = [{**s, "scene": sc.index} for sc in scenes for s in samples([sc])]
    return maps, held


def score_oracles(
    out: str | Path, settings: BenchSettings | None = None, *, log: Callable = print
) -> dict[str, Any]:
    """Score the `ORACLES` into ``out/oracles/<name>`` run directories; write
    ``out/oracles.json`` (``{"oracles": {name: block}, "settings": ...}``); return it."""
    import json

    st = settings or BenchSettings()
    out = Path(out)
    for p in (out / "oracles.json", out / "oracles"):
        if p.exists():
            raise ValueError(f"{p} already exists; choose a new --out (nothing is overwritten)")
    maps, held = oracle_maps(st)
    keys = metric_keys(st.metrics)
    res = {}
    for name, m in maps.items():
        run = out / "oracles" / name.replace(" ", "_")
        summary = score_run(
            m, held, run, score_size=st.score_size, workers=st.workers, metrics=st.metrics
        )
        res[name] = metric_block(summary, keys)
        log(f"{name}: Rmi {res[name]['rmi']:.4f}")
    data = {"oracles": res, "settings": st.to_dict()}
    (out / "oracles.json").write_text(json.dumps(data, indent=2))
    return data


def format_oracle_table(oracles: dict[str, Any], keys: tuple[str, ...]) -> str:
    """One row per oracle and kind (markdown).

    Examples
    --------
    >>> b = {"rmi": 0.5, "rsu": 0.5, "ras": 0.5, "rda": 0.5, "n": 4, "per_kind": {}}
    >>> print(format_oracle_table({"flat": b}, ("rmi",)))
    | oracle | kind | n | ↑Rmi   |
    |--------|------|---|--------|
    | flat   | all  | 4 | 0.5000 |
    """
    from xemap.bench.report import markdown_table, metric_header

    body = []
    for name, block in oracles.items():
        for kind, b in [("all", block), *sorted(block["per_kind"].items())]:
            body.append([name, kind, str(b["n"]), *(f"{b[k]:.4f}" for k in keys)])
    return markdown_table(["oracle", "kind", "n", *(metric_header(k) for k in keys)], body)
