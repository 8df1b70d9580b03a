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
    assert ours == theirs and list(ours) == list(theirs)  # the very same doubles
    assert ours_per_sample == theirs_per_sample


@pytest.mark.parametrize(
    ("attr", "value"),
    [("rda_eta", 0.3), ("ras_filter_times", 3), ("ras_expand_factor", 2.0),
     ("ras_scala_beta", 2), ("rsu_beta", 0.5), ("rmi_wsu", 0.5)],
)
def test_changed_parameters_are_honoured(attr, value):
    """Each parameter attribute changes the numbers exactly as it does in the official class."""
    case = CASES[0]
    path = str(Path(case["_root"]) / case["map"])
    slm = SLM()
    setattr(slm, attr, value)
    ours = slm.evaluate(path, case["polygons"])
    base = SLM().evaluate(path, case["polygons"])
    assert any(abs(ours[k] - base[k]) > 1e-6 for k in KEYS), "the attribute had no effect"
    off = _official_class()()
    setattr(off, attr, value)
    assert ours == off.evaluate(path, case["polygons"])


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


def _marks_scene(tmp_path):
    """A map with two attention centres in a GT region, and a colour addmap beside it."""
    from PIL import Image

    g = np.zeros((1500, 1600), np.uint8)
    yy, xx = np.mgrid[:1500, :1600]
    for cx, cy in ((560, 700), (1040, 760)):
        g[(xx - cx) ** 2 + (yy - cy) ** 2 <= 150 ** 2] = 255
    prob_path = tmp_path / "probmap_0.png"
    Image.fromarray(g).save(prob_path)
    addmap = np.stack([100 + xx // 16, 120 + yy // 16, np.full_like(xx, 200)], -1).astype(np.uint8)
    add_path = tmp_path / "addmap_0.png"
    Image.fromarray(addmap).save(add_path)
    polys = [[[330, 330], [1270, 360], [1250, 1160], [350, 1140]]]
    return str(prob_path), str(add_path), polys


def test_visual_option_prints_and_draws_what_the_official_class_does(tmp_path, monkeypatch,
                                                                     capsys):
    """The official class prints the regions, centres and offsets and draws them on the
    full-size addmap into ./img_circle.jpg; ours prints the very same lines and draws the
    same circles (OpenCV's, to about a pixel of thickness) and numbers in the same places."""
    official = _official_class()
    import cv2

    prob_path, add_path, polys = _marks_scene(tmp_path)
    runs = {}
    for name, cls in (("official", official), ("ours", SLM)):
        out = tmp_path / name
        out.mkdir()
        monkeypatch.chdir(out)
        slm = cls()
        assert slm.set_visual_options(True, add_path) is True
        metrics = slm.evaluate(prob_path, polys)
        runs[name] = (metrics, capsys.readouterr().out, cv2.imread(str(out / "img_circle.jpg")))
    (m_off, text_off, img_off), (m_ours, text_ours, img_ours) = runs["official"], runs["ours"]
    assert m_ours == m_off
    assert text_ours == text_off and text_off.count("\n") == 4
    assert "prob_centers:  [[" in text_off and "offsets:  [np.float64(" in text_off
    assert img_ours.shape == img_off.shape == (1500, 1600, 3)  # the full-size addmap
    dark_off, dark_ours = img_off.max(axis=2) < 60, img_ours.max(axis=2) < 60
    assert (dark_off & dark_ours).sum() / (dark_off | dark_ours).sum() > 0.5
    untouched = ~(dark_off | dark_ours)
    addmap = cv2.imread(add_path)
    assert np.abs(img_ours[untouched].astype(int) - addmap[untouched]).mean() < 2  # JPEG noise
    # a direct ras(..., src_img=) draws too; without src_img nothing is drawn or printed
    monkeypatch.chdir(tmp_path)
    SLM().ras(polys, SLM().read_gray_to_prob(prob_path), visual=True, src_img=add_path)
    assert (tmp_path / "img_circle.jpg").exists() and capsys.readouterr().out == text_off
    SLM().ras(polys, SLM().read_gray_to_prob(prob_path))
    assert capsys.readouterr().out == ""


def test_an_unreadable_addmap_is_a_clear_error(tmp_path, monkeypatch):
    prob_path, _, polys = _marks_scene(tmp_path)
    monkeypatch.chdir(tmp_path)
    slm = SLM()
    slm.set_visual_options(True, str(tmp_path / "no_addmap.jpg"))
    with pytest.raises(MapReadError, match=r"addmap .*no_addmap\.jpg cannot be read"):
        slm.evaluate(prob_path, polys)


# -- the official numbers to the last bit ----------------------------------------------------


def _air_slt_maps(scale: float, kinds=("focused", "shifted", "scattered", "noise")):
    """One map per AIR-SLT scene at ``scale`` of its size, the kind cycling; its polygons."""
    from selo_metrics.data import load_air_slt, scene_size, synthetic_map

    anno = load_air_slt()
    scenes = sorted({a["jpg_name"] for a in anno}, key=lambda n: int(n.split(".")[0]))
    for i, name in enumerate(scenes):
        item = next(a for a in anno if a["jpg_name"] == name)
        h, w = scene_size(anno, name)
        h, w = max(8, int(h * scale)), max(8, int(w * scale))
        polys = [[[x * scale, y * scale] for x, y in poly] for poly in item["points"]]
        kind = kinds[i % len(kinds)]
        if kind == "noise":
            gray = np.random.default_rng(i).integers(0, 256, (h, w)).astype(np.uint8)
        else:
            gray = synthetic_map((h, w), polys, kind=kind, seed=i)
        yield f"{name}-{kind}", gray, polys


def _check_rsu_bitwise(scale):
    official = _official_class()()
    for name, gray, polys in _air_slt_maps(scale):
        prob = gray / 255.0
        want = official.rsu(prob, official.generate_mask_by_points(prob, polys))
        assert evaluate(gray, polys).rsu == want, name
        assert evaluate(prob, polys).rsu == want, name  # the float map too


def test_rsu_is_the_official_to_the_last_bit():
    """Rsu (and so Rmi) sums prob in numpy's pairwise order, as the official ``np.sum``: the
    same double, not just within 1e-9 (integer sums differed by 1-2 ulp on 1 map in 4)."""
    _check_rsu_bitwise(0.25)


@pytest.mark.slow
def test_rsu_is_the_official_to_the_last_bit_at_full_air_slt_sizes():
    _check_rsu_bitwise(1.0)


def test_ras_and_rda_are_the_official_to_the_last_bit():
    """The official ``ras`` / ``rda`` run on given regions and attention centres (its two
    helpers replaced): Rda's distances are BLAS dots (np.linalg.norm) and its tail np.exp,
    which a plain sqrt(dx*dx + dy*dy) and math.exp miss by an ulp now and then."""
    from selo_metrics.conventions import CONVENTIONS
    from selo_metrics.metrics import _ras, _rda

    official = _official_class()()
    rng = np.random.default_rng(0)
    for _ in range(300):
        regions = [(int(rng.integers(0, 3000)), int(rng.integers(0, 3000)),
                    int(rng.integers(50, 900))) for _ in range(rng.integers(1, 4))]
        cx, cy, r = regions[0]
        centres = [[int(cx + rng.integers(-r // 2, r // 2)),
                    int(cy + rng.integers(-r // 2, r // 2))] for _ in range(rng.integers(0, 30))]
        for metric, ours in (("rda", _rda), ("ras", _ras)):
            it = iter(regions)
            official._get_region_center_radius = lambda _, it=it: next(it)
            official._get_prob_center_in_gray = lambda _, c=centres: (c, None)
            args = ([None] * len(regions), None) + ((False,) if metric == "ras" else ())
            want = getattr(official, metric)(*args)
            assert ours(CONVENTIONS["slm"], regions, [tuple(c) for c in centres]) == want


@pytest.mark.slow
def test_evaluate_is_the_official_to_the_last_bit_with_several_centres(tmp_path):
    """Whole maps through both classes, with 2 to 4 attention centres in the GT region."""
    from PIL import Image

    official = _official_class()
    rng = np.random.default_rng(7)
    for i in range(4):
        h, w = int(rng.integers(1200, 1600)), int(rng.integers(1200, 1600))
        cx, cy, half = w / 2 + rng.uniform(-50, 50), h / 2 + rng.uniform(-50, 50), 430
        polys = [[[cx - half, cy - half], [cx + half, cy - half * rng.uniform(0.9, 1.1)],
                  [cx + half, cy + half], [cx - half * rng.uniform(0.9, 1.1), cy + half]]]
        yy, xx = np.mgrid[:h, :w]
        gray = rng.integers(0, 60, (h, w)).astype(np.uint8)
        k = 2 + i % 3
        for j in range(k):  # saturated discs: equal peaks, all kept by the maximum filter
            a = 2 * np.pi * j / k + rng.uniform(0, 0.5)
            gray[(xx - cx - 330 * np.cos(a)) ** 2 + (yy - cy - 330 * np.sin(a)) ** 2
                 <= 150 ** 2] = 255
        path = str(tmp_path / f"probmap_{i}.png")
        Image.fromarray(gray).save(path)
        ours = SLM()
        got = ours.evaluate(path, polys)
        assert len(ours.last_result.attention_centers) >= 2
        assert got == official().evaluate(path, polys)


def test_the_printed_offsets_keep_a_centre_exactly_at_the_radius():
    """The official ``offsets`` (printed with ``visual=True``) keep the centres with
    ``d <= r`` (METRICS.md, Ras): a centre at exactly the radius counts."""
    from selo_metrics.compat import _official_offsets

    # distances 50 (= r) and 30 from (100, 100): both kept, mean 40; 60 is dropped
    assert _official_offsets([(100, 100, 50)], [[150, 100], [100, 130], [160, 100]]) == [40.0]
    assert _official_offsets([(100, 100, 50)], [[160, 100]]) == [50]  # none kept: r itself
    assert _official_offsets([(100, 100, 50), (0, 0, 7)], []) == [50]  # no centre at all
