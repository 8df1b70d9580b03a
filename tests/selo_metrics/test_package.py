"""The package surface: a light import, the public names, the bundled data."""

from __future__ import annotations

import subprocess
import sys

import selo_metrics
from selo_metrics.data import load_air_slt


def test_import_stays_light():
    # (numba itself imports scipy when it is installed, so scipy is not checked)
    code = ("import sys, selo_metrics; "
            "print(','.join(m for m in ('torch', 'transformers', 'timm', 'cv2', "
            "'skimage', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_public_api():
    for name in ("evaluate", "rsu", "ras", "rda", "rmi", "SeLoResult", "SeLoInputError",
                 "attention_centers", "gt_mask", "gt_regions", "as_polygons"):
        assert name in selo_metrics.__all__ and hasattr(selo_metrics, name)
    assert issubclass(selo_metrics.SeLoInputError, ValueError)


def test_bundled_air_slt_annotations():
    anno = load_air_slt()
    assert len(anno) == 59
    assert sum(len(a["points"]) for a in anno) == 103
    assert {a["jpg_name"] for a in anno} == {f"{i}.jpg" for i in range(22)}


def test_result_repr_and_dict_are_readable():
    import numpy as np

    g = np.zeros((200, 240), np.uint8)
    g[60:120, 80:150] = 230
    res = selo_metrics.evaluate(g, [[(60, 50), (170, 50), (170, 130), (60, 130)]],
                                sample_id="q1")
    text = repr(res)
    assert "q1" in text and "Rmi" in text and "200 x 240" in text
    d = res.to_dict()
    assert d["sample_id"] == "q1" and d["rmi"] == res.rmi and d["shape"] == [200, 240]
