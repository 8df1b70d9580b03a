"""``selo_metrics.torchmetrics``: the accumulators' numbers, in one process and across DDP.

The references are :class:`selo_metrics.SeLoAccumulator` and
:class:`selo_metrics.rrsis.RRSISAccumulator` fed the same maps one at a time; the
comparison is exact (``==`` on floats), not approximate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchmetrics")

import selo_metrics  # noqa: E402
from selo_metrics.data import synthetic_map  # noqa: E402
from selo_metrics.rrsis import RRSISAccumulator  # noqa: E402
from selo_metrics.rrsis_run import rrsis_row  # noqa: E402
from selo_metrics.torchmetrics import RRSISMetric, SeLoMetric  # noqa: E402

EXACT = ("count", "scored", "failed", "rmi", "rsu", "ras", "rda", "by_attribute", "failures")


def make_batch(n: int, seed: int, size: tuple[int, int] = (96, 128)):
    """``n`` float32 probability maps (a tensor) and their GT polygons."""
    rng = np.random.default_rng(seed)
    h, w = size
    maps, polys = [], []
    for i in range(n):
        x0, y0 = int(rng.integers(5, w // 2)), int(rng.integers(5, h // 2))
        poly = [[x0, y0], [x0 + 30, y0], [x0 + 30, y0 + 25], [x0, y0 + 25]]
        kind = ("focused", "shifted", "scattered")[i % 3]
        maps.append(synthetic_map((h, w), [poly], kind=kind, seed=seed * 100 + i) / 255.0)
        polys.append([poly])
    return torch.tensor(np.stack(maps), dtype=torch.float32), polys


def masks_of(polys, shape=(96, 128)) -> torch.Tensor:
    """The GT polygons as a (B, H, W) bool mask tensor (the library's rasteriser)."""
    return torch.tensor(
        np.stack([selo_metrics.gt_mask(selo_metrics.as_polygons(p), shape) for p in polys]).astype(
            bool
        )
    )


def rrsis_reference(batches) -> dict:
    acc = RRSISAccumulator()
    for preds, polys in batches:
        for pred, mask in zip(preds.numpy(), masks_of(polys).numpy(), strict=True):
            acc.update(pred, mask)
    return acc.compute()


def reference(batches) -> dict:
    acc = selo_metrics.SeLoAccumulator()
    for preds, polys in batches:
        for gray, poly in zip(preds.numpy(), polys, strict=True):
            acc.update(gray, poly)
    return acc.compute()


def exact_view(summary: dict) -> dict:
    return {k: summary[k] for k in EXACT}


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric SeLoMetric was called before")
def test_compute_equals_the_accumulator_bit_for_bit():
    torch.set_num_threads(1)
    batches = [make_batch(4, 1), make_batch(3, 2), make_batch(5, 3)]
    metric = SeLoMetric()
    for preds, polys in batches:
        metric.update(preds, polys)
    got, want = metric.compute(), reference(batches)
    assert exact_view(got) == exact_view(want)
    assert got["count"] == 12 and set(got) == set(want)
    assert got["seconds_total"] > 0
    # order-free: the batches in reverse give the very same means
    again = SeLoMetric()
    for preds, polys in batches[::-1]:
        again.update(preds, polys)
    assert exact_view(again.compute()) == exact_view(got)
    metric.reset()
    assert metric.compute()["count"] == 0


def test_means_are_exactly_rounded(monkeypatch):
    """Ten samples of 0.1: a plain float sum gives 0.09999999999999999, fsum 0.1."""
    from selo_metrics import _torchmetrics_classes as classes

    fake = selo_metrics.SeLoResult(
        rsu=0.1, ras=0.1, rda=0.1, rmi=0.1, mask_area=1, regions=[], attention_centers=[]
    )
    monkeypatch.setattr(classes, "evaluate", lambda *a, **k: fake)
    metric = SeLoMetric()
    metric.update(torch.zeros(10, 4, 4), [None] * 10)
    s = metric.compute()
    assert sum([0.1] * 10) / 10 != 0.1
    assert (s["rsu"], s["ras"], s["rda"], s["rmi"]) == (0.1, 0.1, 0.1, 0.1)


def test_each_map_is_scored_like_evaluate():
    preds, polys = make_batch(3, 5)
    metric = SeLoMetric(convention="paper")
    metric.update(preds, polys)
    rmi = [
        selo_metrics.evaluate(m, p, convention="paper").rmi
        for m, p in zip(preds.numpy(), polys, strict=True)
    ]
    assert metric.rmi[0].tolist() == rmi and metric.rmi[0].dtype == torch.float64


def test_half_precision_and_uint8_maps():
    preds, polys = make_batch(2, 6)
    half = SeLoMetric()
    half.update(preds.half(), polys)
    ref = reference([(preds.half().float(), polys)])
    assert exact_view(half.compute()) == exact_view(ref)
    u8 = (preds * 255).to(torch.uint8)
    m = SeLoMetric()
    m.update(u8, polys)
    assert m.rmi[0].tolist() == [
        selo_metrics.evaluate(g, p).rmi for g, p in zip(u8.numpy(), polys, strict=True)
    ]


def test_states_stay_float64():
    preds, polys = make_batch(2, 7)
    metric = SeLoMetric().float()
    metric.set_dtype(torch.float16)
    metric.update(preds, polys)
    assert metric.dtype == torch.float64 and metric.rsu[0].dtype == torch.float64


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric SeLoMetric was called before")
def test_bad_input_names_the_sample_and_adds_nothing():
    preds, polys = make_batch(2, 8)
    metric = SeLoMetric()
    bad = [polys[0], [[[1, 1], [5, 1], [9, 1]]]]  # zero-area polygon
    with pytest.raises(selo_metrics.SeLoInputError, match="sample 'b'"):
        metric.update(preds, bad, sample_ids=["a", "b"])
    assert metric.compute()["count"] == 0
    with pytest.raises(ValueError, match="2 maps but 1 targets"):
        metric.update(preds, polys[:1])
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        metric.update(preds[0], polys[:1])
    with pytest.raises(ValueError, match="unknown convention"):
        SeLoMetric(convention="nope")


def test_without_torch_a_clear_import_error():
    code = (
        "import sys; sys.modules['torchmetrics'] = None\n"
        "import selo_metrics.torchmetrics as t\n"
        "try:\n    t.SeLoMetric\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'selo-metrics[xemap]'" in out


def test_rrsis_metric_equals_the_rrsis_accumulator():
    batches = [make_batch(4, 1), make_batch(3, 2), make_batch(5, 3)]
    metric = RRSISMetric()
    for preds, polys in batches:
        metric.update(preds, masks_of(polys))
    got = metric.compute()
    assert got == rrsis_reference(batches) and got["n"] == 12
    assert 0 < got["miou"] < 1 and got["miou"] != got["oiou"]
    # polygons, and masks of other dtypes, give the same counts; batches in any order
    again = RRSISMetric()
    for preds, polys in batches[::-1]:
        again.update(preds, polys if len(polys) % 2 else list(masks_of(polys).to(torch.uint8)))
    assert again.compute() == got
    assert metric.inter[0].dtype == torch.float64


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric RRSISMetric was called")
def test_rrsis_metric_bad_input_and_options():
    preds, polys = make_batch(2, 9)
    metric = RRSISMetric(thresholds=(0.25, 0.75))
    assert set(metric.compute()) == {"n", "miou", "oiou", "prec@0.25", "prec@0.75"}
    with pytest.raises(selo_metrics.SeLoInputError, match=r"sample 'b'.*differ"):
        metric.update(preds, [masks_of(polys)[0], masks_of(polys)[1][:50]], sample_ids="ab")
    assert metric.compute()["n"] == 0
    with pytest.raises(ValueError, match="2 maps but 1 targets"):
        metric.update(preds, masks_of(polys)[:1])
    with pytest.raises(ValueError, match="threshold"):
        RRSISMetric(thresholds=(1.5,))
    # RMSIN's fixed-size protocol, as rrsis_row computes it
    sized = RRSISMetric(size=48)
    sized.update(preds, masks_of(polys))
    acc = RRSISAccumulator()
    for p, m in zip(preds.numpy(), masks_of(polys).numpy(), strict=True):
        r = rrsis_row(p, m, size=48)
        acc.add(r["inter"], r["union"])
    assert sized.compute() == acc.compute()


SCENARIOS = {"uneven": [[1, 2], [3]], "empty": [[1, 2, 3], []]}


def _ddp_worker(rank: int, world: int, tmp: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world
    )
    try:
        metric, rrsis = SeLoMetric(), RRSISMetric()
        for name, shards in SCENARIOS.items():
            for seed in shards[rank]:
                preds, polys = make_batch(seed % 4 + 1, seed)
                metric.update(preds, polys)
                rrsis.update(preds, masks_of(polys))
            summary = metric.compute()  # gathers every process's samples
            Path(tmp, f"{name}_rank{rank}.json").write_text(json.dumps(summary))
            Path(tmp, f"{name}_rrsis_rank{rank}.json").write_text(json.dumps(rrsis.compute()))
            metric.reset()
            rrsis.reset()
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_ddp_gives_the_accumulators_numbers(tmp_path):
    """2 CPU processes (gloo, spawn): uneven shards, then a process that sees no sample."""
    import torch.multiprocessing as mp

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    for name, shards in SCENARIOS.items():
        batches = [make_batch(seed % 4 + 1, seed) for shard in shards for seed in shard]
        want, want_rrsis = reference(batches), rrsis_reference(batches)
        for rank in (0, 1):
            got = json.loads((tmp_path / f"{name}_rank{rank}.json").read_text())
            assert exact_view(got) == json.loads(json.dumps(exact_view(want))), (name, rank)
            assert got["count"] == sum(seed % 4 + 1 for shard in shards for seed in shard)
            got = json.loads((tmp_path / f"{name}_rrsis_rank{rank}.json").read_text())
            assert got == json.loads(json.dumps(want_rrsis)), (name, rank)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_preds_and_states():
    batches = [make_batch(3, 1), make_batch(2, 2)]
    metric, rrsis = SeLoMetric().to("cuda"), RRSISMetric().to("cuda")
    for preds, polys in batches:
        metric.update(preds.cuda(), polys)
        rrsis.update(preds.cuda().half(), masks_of(polys).cuda())
    assert metric.rmi[0].device.type == "cuda" and metric.rmi[0].dtype == torch.float64
    assert exact_view(metric.compute()) == exact_view(reference(batches))
    half = [(p.half().float(), polys) for p, polys in batches]
    assert rrsis.compute() == rrsis_reference(half)
