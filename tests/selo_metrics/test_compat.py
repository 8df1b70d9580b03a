"""selo_metrics.compat.SLM: the official class's surface and numbers, errors instead of nan."""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path

import numpy as np
import pytest

from selo_metrics import MapReadError, SeLoInputError, evaluate, read_map
from selo_metrics.compat import SLM
from tests.conftest import SHARED
from tests.selo_metrics.test_io import BUNDLED_FILE_CASES, SHARED_FILE_CASES

CASES = SHARED_FILE_CASES or BUNDLED_FILE_CASES
KEYS = ["↑ Rsu [0 ~ 1]", "↑ Rda [0 ~ 1]", "↓ Ras [0 ~ 1]", "↑ Rmi [0 ~ 1]"]
EXPECTED_KEY = dict(zip(KEYS, ["rsu", "rda", "ras", "rmi"], strict=True))
OFFICIAL = SHARED / "reference" / "slm" / "SLM.py"


def _official_class():
    """The official SLM class, loaded by path, or a skip saying what is missing."""
    if not OFFICIAL.exists():
        pytest.skip(f"the official code is not present ({OFFICIAL})")
    for module in ("cv2", "scipy", "skimage"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the official class needs {module}, not installed here")
    spec = importlib.util.spec_from_file_location("official_slm", OFFICIAL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SLM


def _loop(cls, cases):
    """The official evaluate_selo.py loop: evaluate -> append_metric -> get_the_mean_metric."""
    slm = cls()
    per_sample = []
    for case in cases:
        metrics = slm.evaluate(str(Path(case["_root"]) / case["map"]), region_list=case["polygons"])
        slm.append_metric(metrics)
        per_sample.append(metrics)
    return per_sample, slm.get_the_mean_metric()


def test_the_official_loop_gives_the_official_numbers():
    per_sample, means = _loop(SLM, CASES)
    for case, metrics in zip(CASES, per_sample, strict=True):
        assert list(metrics) == KEYS
        for key, value in metrics.items():
            assert isinstance(value, np.floating)
            assert abs(value - case["expected"][EXPECTED_KEY[key]]) <= 1e-9, (case["id"], key)
    for key in KEYS:
        want = np.mean([c["expected"][EXPECTED_KEY[key]] for c in CASES])
        assert abs(means[key] - want) <= 1e-9


def test_the_official_class_itself_gives_the_same_means():
    official = _official_class()
    logging.getLogger().setLevel(logging.WARNING)
    theirs_per_sample, theirs = _loop(official, CASES)
    ours_per_sample, ours = _loop(SLM, CASES)
    assert list(ours) == list(theirs)
    for key in KEYS:
        assert abs(ours[key] - theirs[key]) <= 1e-9
    for a, b in zip(ours_per_sample, theirs_per_sample, strict=True):
        assert all(abs(a[k] - b[k]) <= 1e-9 for k in KEYS)


@pytest.mark.parametrize(
    ("attr", "value"),
    [("rda_eta", 0.3), ("ras_filter_times", 3), ("ras_expand_factor", 2.0),
     ("ras_scala_beta", 2), ("rsu_beta", 0.5), ("rmi_wsu", 0.5)],
)
def test_changed_parameters_are_honoured(attr, value):
    case = CASES[0]
    path = str(Path(case["_root"]) / case["map"])
    slm = SLM()
    setattr(slm, attr, value)
    ours = slm.evaluate(path, case["polygons"])
    base = SLM().evaluate(path, case["polygons"])
    assert any(abs(ours[k] - base[k]) > 1e-6 for k in KEYS), "the attribute had no effect"
    if OFFICIAL.exists() and all(importlib.util.find_spec(m) for m in ("cv2", "scipy",
                                                                       "skimage")):
        off = _official_class()()
        setattr(off, attr, value)
        theirs = off.evaluate(path, case["polygons"])
        assert all(abs(ours[k] - theirs[k]) <= 1e-9 for k in KEYS)


def test_method_surface_matches_the_library():
    case = CASES[0]
    path = str(Path(case["_root"]) / case["map"])
    slm = SLM()
    prob = slm.read_gray_to_prob(path)
    assert prob.dtype == np.float64 and np.array_equal(prob, read_map(path) / 255.0)
    mask = slm.generate_mask_by_points(prob, case["polygons"])
    assert mask.dtype == np.float64 and set(np.unique(mask)) <= {0.0, 1.0}
    res = evaluate(read_map(path), case["polygons"])
    assert abs(slm.rsu(prob, mask) - res.rsu) <= 1e-9
    assert slm.ras(case["polygons"], prob) == res.ras
    assert slm.rda(case["polygons"], prob) == res.rda
    assert slm.rmi(res.rsu, res.rda, res.ras) == pytest.approx(res.rmi, abs=1e-15)
    assert slm.set_visual_options(False, None) is True


def test_degenerate_input_raises_or_gives_nan_when_asked(tmp_path, caplog):
    case = CASES[0]
    path = str(Path(case["_root"]) / case["map"])
    with pytest.raises(SeLoInputError, match="no polygon"):
        SLM().evaluate(path, [])
    lenient = SLM(nan_on_degenerate=True)
    with caplog.at_level(logging.WARNING):
        metrics = lenient.evaluate(path, [])
    assert list(metrics) == KEYS and all(math.isnan(v) for v in metrics.values())
    assert "cannot be scored" in caplog.text
    # a file that cannot be read is never a nan
    with pytest.raises(MapReadError, match="does not exist"):
        lenient.evaluate(str(tmp_path / "probmap_0.jpg"), case["polygons"])
    with pytest.raises(SeLoInputError, match="GT mask is empty"):
        SLM().rsu(np.ones((4, 4)), np.zeros((4, 4)))


def test_visual_option_writes_our_overlay(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    case = CASES[0]
    slm = SLM()
    slm.set_visual_options(True, "addmap.jpg")
    slm.evaluate(str(Path(case["_root"]) / case["map"]), case["polygons"])
    assert (tmp_path / "img_circle.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
