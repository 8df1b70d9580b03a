"""Fixtures of the selo_metrics tests: real scored run directories for the report's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from selo_metrics.cli import main
from tests.selo_metrics.testsets import make_test_set


@pytest.fixture(scope="session")
def scored_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two real ``selo-metrics score`` runs of one 14-sample test set with 3 failures.

    ``slm``: with ``--overlays``; ``paper``: the paper convention, no overlays (the report
    draws its thumbnails from the maps).
    """
    root = tmp_path_factory.mktemp("scored")
    manifest = make_test_set(root, 14)
    runs = root / "slm", root / "paper"
    assert (
        main(
            [
                "score",
                str(manifest),
                "--out",
                str(runs[0]),
                "--workers",
                "1",
                "--overlays",
                "--no-progress",
            ]
        )
        == 1
    )  # 3 samples fail on purpose
    assert (
        main(
            [
                "score",
                str(manifest),
                "--out",
                str(runs[1]),
                "--workers",
                "1",
                "--convention",
                "paper",
                "--no-progress",
            ]
        )
        == 1
    )
    return runs


@pytest.fixture(scope="session")
def rrsis_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Real runs with the RRSIS metrics: ``both`` (``--metrics selo,rrsis``, polygon GT, 3
    failures) and ``masks`` (``--metrics rrsis``, the same samples' GT as mask files)."""
    import json

    import numpy as np
    from PIL import Image

    from selo_metrics import as_polygons, gt_mask, load_samples

    root = tmp_path_factory.mktemp("rrsis")
    manifest = make_test_set(root, 10)
    runs = root / "both", root / "masks"
    assert (
        main(
            [
                "score",
                str(manifest),
                "--out",
                str(runs[0]),
                "--workers",
                "1",
                "--metrics",
                "selo,rrsis",
                "--no-progress",
            ]
        )
        == 1
    )
    (root / "masks").mkdir()
    lines = []
    for s, item in zip(
        load_samples(manifest), map(json.loads, manifest.read_text().splitlines()), strict=True
    ):
        if s.index in (3, 5, 7):  # the broken ones
            continue
        shape = np.asarray(Image.open(s.map)).shape
        mask = gt_mask(as_polygons(s.polygons), shape).astype(np.uint8) * 255
        Image.fromarray(mask).save(root / "masks" / f"{s.id}.png")
        item.pop("polygons")
        lines.append(json.dumps(dict(item, mask=f"masks/{s.id}.png")))
    (root / "masks.jsonl").write_text("\n".join(lines) + "\n")
    assert (
        main(
            [
                "score",
                str(root / "masks.jsonl"),
                "--out",
                str(runs[1]),
                "--workers",
                "1",
                "--metrics",
                "rrsis",
                "--no-progress",
            ]
        )
        == 0
    )
    return runs
