"""Kill and resume: a resumed run ends bit-identical to an uninterrupted one (weights, log)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from xemap.data.synthetic import make_scenes, samples
from xemap.engine import loop
from xemap.engine.checkpoints import latest_checkpoint, list_checkpoints
from xemap.engine.config import TrainConfig
from xemap.engine.train_log import read_log


class Killed(Exception):
    """Stands for a SIGKILL: raised out of the loop before a step runs."""


@pytest.fixture(scope="module")
def data():
    out = samples(make_scenes(4, seed=5, size=64))[:7]
    assert len(out) == 7
    return out  # 7 samples, batch 2: 4 steps/epoch


def _cfg(out, **kw):
    # dropout > 0 and two trainable parts: RNG, optimizer moments and the batch order matter
    model = {"family": "xemap", "preset": "tiny", "dropout": 0.2, "fusion_droppath": 0.1}
    base = dict(
        model=model,
        out=str(out),
        epochs=2,
        batch_size=2,
        lr=3e-3,
        trainable=["fusion", "image"],
        seed=3,
        checkpoint_every=3,
        device="cpu",
    )
    return TrainConfig(**{**base, **kw})


def _steps(out):
    return [(r["step"], r["loss"]) for r in read_log(out / "train_log.jsonl") if "event" not in r]


def _epochs(out):
    return [
        (r["step"], r["loss"])
        for r in read_log(out / "train_log.jsonl")
        if r.get("event") == "epoch"
    ]


def _kill_at(monkeypatch, call):
    real = loop.device_batch
    calls = {"n": 0}

    def batch(*a, **k):
        calls["n"] += 1
        if calls["n"] == call:
            raise Killed
        return real(*a, **k)

    monkeypatch.setattr(loop, "device_batch", batch)


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    torch.manual_seed(123)  # the loop seeds itself: this must not matter
    res = loop.train(_cfg(out), resume=None, samples=data, progress=False)
    assert res["steps"] == 8 and res["stopped"] == "epochs"
    return out


def _equal_weights(a, b):
    wa, wb = (
        load_file(str(a / "model" / "model.safetensors")),
        load_file(str(b / "model" / "model.safetensors")),
    )
    assert wa.keys() == wb.keys()
    return all(torch.equal(wa[k], wb[k]) for k in wa)


def test_reference_checkpoints(reference):
    names = sorted(m["path"].name for m in list_checkpoints(reference))
    # every 3 steps inside an epoch (step 3; step 6 = epoch 2 step 2), and each epoch's end
    assert names == ["epoch_1", "epoch_2", "step_3", "step_6"]
    assert latest_checkpoint(reference).name == "epoch_2"
    assert len(_steps(reference)) == 8


@pytest.mark.parametrize(
    ("kill_call", "resumes_from"),
    [(4, "step_3"), (6, "epoch_1"), (8, "step_6")],
)
def test_kill_then_resume_is_bit_identical(
    reference, data, tmp_path, monkeypatch, kill_call, resumes_from
):
    out = tmp_path / "run"
    _kill_at(monkeypatch, kill_call)
    with pytest.raises(Killed):
        loop.train(_cfg(out), resume=None, samples=data, progress=False)
    monkeypatch.undo()
    assert latest_checkpoint(out).name == resumes_from
    # the killed run logged steps past its last checkpoint; resuming drops and redoes them
    torch.manual_seed(999)
    res = loop.train(_cfg(out), resume="auto", samples=data, progress=False)
    assert res["resumed_from"].endswith(resumes_from) and res["steps"] == 8
    assert _steps(out) == _steps(reference)
    assert _epochs(out) == _epochs(reference)
    assert _equal_weights(out, reference)
    events = [r["event"] for r in read_log(out / "train_log.jsonl") if "event" in r]
    assert events.count("resume") == 1


def test_a_longer_budget_continues_a_max_steps_run(reference, data, tmp_path):
    out = tmp_path / "run"
    res = loop.train(_cfg(out, max_steps=5), resume=None, samples=data, progress=False)
    assert res["stopped"] == "max_steps" and res["steps"] == 5
    assert latest_checkpoint(out).name == "step_5"
    meta = json.loads((out / "checkpoints" / "step_5" / "meta.json").read_text())
    assert meta == {"epoch": 2, "step": 5, "epoch_step": 1, "epoch_complete": False}
    res = loop.train(_cfg(out), resume="auto", samples=data, progress=False)
    assert res["steps"] == 8
    assert _steps(out) == _steps(reference) and _equal_weights(out, reference)
    # nothing left to do: a third call trains no step and keeps the weights
    res = loop.train(_cfg(out), resume="auto", samples=data, progress=False)
    assert res["steps"] == 8 and _equal_weights(out, reference)
