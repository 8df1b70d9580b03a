"""Shared fixtures: conformance cases bundled in tests/data, and the full shared set."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).parent / "data"
SHARED = Path(os.environ.get("SELO_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def load_cases(root: Path) -> list[dict]:
    """Cases of a conformance directory whose map file is present."""
    cases = json.loads((root / "cases.json").read_text())
    return [dict(c, _root=str(root)) for c in cases if (root / c["map"]).exists()]


def read_png_gray(case: dict) -> np.ndarray:
    """A lossless 8-bit gray conformance map, as stored."""
    img = np.asarray(Image.open(Path(case["_root"]) / case["map"]))
    assert img.dtype == np.uint8 and img.ndim == 2, case["id"]
    return img


BUNDLED_CASES = load_cases(DATA / "slm")
ALL_CASES_JSON = json.loads((DATA / "slm" / "cases.json").read_text())
SHARED_SLM = SHARED / "conformance" / "slm"
SHARED_CASES = load_cases(SHARED_SLM) if (SHARED_SLM / "cases.json").exists() else []


@pytest.fixture(scope="session")
def bundled_cases() -> list[dict]:
    return BUNDLED_CASES
