"""Shared fixtures: conformance cases bundled in tests/data, and the full shared set.

``../shared`` (beside the repository; ``SELO_SHARED`` overrides) holds the full conformance
sets and the official code. Without it, the tests that need it skip, saying so. With
``SELO_REQUIRE_SHARED=1`` (CI, where it is present: ``.ci/run``), a missing ``../shared`` stops
the run, and a test that skips for want of it, of the official code or of an oracle of the
test extras (OpenCV, scipy, scikit-image) fails instead: nothing is skipped silently.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).parent / "data"
SHARED = Path(os.environ.get("SELO_SHARED", Path(__file__).resolve().parents[2] / "shared"))
REQUIRE_SHARED = os.environ.get("SELO_REQUIRE_SHARED", "") not in ("", "0")
#: skip reasons that must not happen where ../shared and the test extras are required
REQUIRED_SKIP = re.compile(r"shared|official|opencv|cv2|scipy|skimage|scikit", re.IGNORECASE)


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


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_SHARED:
        missing = [p for p in ("conformance/slm/cases.json", "conformance/files/cases.json")
                   if not (SHARED / p).is_file()]
        if missing:
            raise pytest.UsageError(
                f"SELO_REQUIRE_SHARED=1 but {SHARED} lacks {missing}: put the shared material "
                "beside the repository (../shared) or set SELO_SHARED"
            )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """With SELO_REQUIRE_SHARED=1, a skip for want of ../shared or an oracle is a failure."""
    outcome = yield
    report = outcome.get_result()
    if not (REQUIRE_SHARED and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = (report.longrepr[2] if isinstance(report.longrepr, tuple)
              else str(report.longrepr))
    if REQUIRED_SKIP.search(reason):
        report.outcome = "failed"
        report.longrepr = (f"skipped where ../shared and the test extras are required "
                           f"(SELO_REQUIRE_SHARED=1): {reason}")
