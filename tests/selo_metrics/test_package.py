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


def _score_in_child(queue):
    import numpy as np

    g = np.zeros((400, 500), np.uint8)
    g[150:250, 200:300] = 255
    queue.put(selo_metrics.evaluate(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]]).rmi)


def test_forked_worker_after_parent_used_the_kernels():
    """The kernels' thread pool must not be inherited half-dead by a forked process."""
    import multiprocessing

    import numpy as np
    import pytest

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork start method on this platform")
    g = np.zeros((400, 500), np.uint8)
    g[150:250, 200:300] = 255
    expected = selo_metrics.evaluate(g, [[(180, 130), (320, 130), (320, 270), (180, 270)]]).rmi
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_score_in_child, args=(queue,))
    proc.start()
    proc.join(60)
    alive = proc.is_alive()
    if alive:
        proc.kill()
    assert not alive, "the forked child hung"
    assert queue.get(timeout=5) == expected
