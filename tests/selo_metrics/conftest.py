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
