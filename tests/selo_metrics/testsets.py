"""Small on-disk test sets (maps + manifest) for the runner's tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from selo_metrics.data import synthetic_map

KINDS = ("focused", "shifted", "scattered")


def make_test_set(root: Path, n: int = 24, *, broken: bool = True, size: int = 360) -> Path:
    """``n`` synthetic maps as PNG/JPEG files and a JSONL manifest with attributes.

    With ``broken``, sample 3's map is missing, sample 5's is corrupt and sample 7 has a
    zero-area polygon: three failures of their own samples only.
    """
    rng = np.random.default_rng(7)
    maps = root / "maps"
    maps.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        h, w = size + int(rng.integers(0, 120)), size + int(rng.integers(0, 120))
        x0, y0 = int(rng.integers(20, w // 2)), int(rng.integers(20, h // 2))
        sw, sh = int(rng.integers(40, w // 3)), int(rng.integers(40, h // 3))
        poly = [[x0, y0], [x0 + sw, y0], [x0 + sw, y0 + sh], [x0, y0 + sh]]
        if broken and i == 7:
            poly = [[10, 10], [50, 10], [90, 10]]  # collinear: zero area
        gray = synthetic_map((h, w), [poly] if not (broken and i == 7) else [
            [[10, 10], [50, 10], [50, 50]]], kind=KINDS[i % 3], seed=i)
        name = f"m{i:03d}." + ("jpg" if i % 4 == 0 else "png")
        if not (broken and i == 3):
            Image.fromarray(gray).save(maps / name, **({"quality": 92} if i % 4 == 0 else {}))
        if broken and i == 5:
            (maps / name).write_bytes((maps / name).read_bytes()[:150])
        lines.append({"id": f"q{i:03d}", "map": f"maps/{name}", "polygons": [poly],
                      "query": f"synthetic query {i}",
                      "attributes": {"multi_hop": i % 2 == 0, "source": f"S{i % 3}"}})
    manifest = root / "test.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return manifest


def metric_view(summary: dict) -> dict:
    """The parts of a summary that must not depend on how the run was executed."""
    keep = ("count", "scored", "failed", "rmi", "rsu", "ras", "rda")
    by = {a: {v: {k: s[k] for k in keep} for v, s in g.items()}
          for a, g in summary["by_attribute"].items()}
    return {**{k: summary[k] for k in keep}, "by_attribute": by,
            "failures": summary["failures"]}


def rows_by_index(journal: Path) -> dict[int, dict]:
    """Every row of a journal by index, asserting there is exactly one per index."""
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    out: dict[int, dict] = {}
    for row in rows:
        assert row["index"] not in out, f"duplicate row for sample {row['index']}"
        row.pop("seconds")
        out[row["index"]] = row
    return out
