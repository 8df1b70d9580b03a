"""``xemap train`` on the engine: checkpoints, log, resume, what changes, config errors, DDP."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xemap.cli import main
from xemap.data.synthetic import make_scenes, samples, write_task
from xemap.engine.checkpoints import latest_checkpoint
from xemap.engine.config import TrainConfig, TrainConfigError, build_model
from xemap.engine.loop import train
from xemap.models import create_model


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    write_task(root / "data", make_scenes(2, seed=0, size=64))
    return root


def _config(root, **kw):
    cfg = {
        "model": "tiny",
        "train": ["data/manifest.jsonl"],
        "out": "run",
        "epochs": 1,
        "batch_size": 3,
        "seed": 0,
        **kw,
    }
    path = root / "cfg.json"
    path.write_text(json.dumps(cfg))
    return path


def _log(out):
    return [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]


def test_train_writes_checkpoints_and_log_then_resumes(task, capsys):
    out = task / "run"
    n = len((task / "data" / "manifest.jsonl").read_text().splitlines())
    steps_per_epoch = -(-n // 3)
    assert main(["train", str(_config(task)), "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["epochs"] == 1 and res["steps"] == steps_per_epoch and res["resumed_from"] is None
    ck = out / "checkpoints" / "epoch_1"
    assert (ck / "model" / "config.json").is_file() and (ck / "state.pt").is_file()
    assert (out / "model" / "model.safetensors").is_file()
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]
    log = _log(out)
    steps = [r for r in log if "event" not in r]
    assert [r["step"] for r in steps] == list(range(1, steps_per_epoch + 1))
    assert all(set(r) >= {"epoch", "step", "loss", "lr", "seconds"} for r in steps)
    assert all(r["loss"] > 0 and r["lr"] == 1e-3 for r in steps)
    assert [r["epoch"] for r in log if r.get("event") == "epoch"] == [1]

    # a fresh run over it is refused; a second call with --epochs 2 resumes at epoch 2
    assert main(["train", str(_config(task)), "--quiet", "--no-resume"]) == 2
    assert "already holds checkpoints" in capsys.readouterr().err
    assert main(["train", str(_config(task)), "--quiet", "--epochs", "2"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["resumed_from"] == str(ck) and res["epochs"] == 2
    assert res["steps"] == 2 * steps_per_epoch
    assert latest_checkpoint(out) == out / "checkpoints" / "epoch_2"
    state = torch.load(out / "checkpoints" / "epoch_2" / "state.pt", weights_only=False)
    meta = json.loads((out / "checkpoints" / "epoch_2" / "meta.json").read_text())
    assert meta["epoch"] == 2 and meta["step"] == 2 * steps_per_epoch and meta["epoch_complete"]
    assert len(state["optimizer"]["state"]) > 0  # the optimizer moments were carried over
    log = _log(out)
    assert [r["event"] for r in log if "event" in r] == ["epoch", "resume", "epoch"]
    assert [r["epoch"] for r in log if "event" not in r][-1] == 2


def test_only_trainable_parts_change(tmp_path):
    torch.manual_seed(0)
    model = create_model("xemap", "tiny")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = samples(make_scenes(2, seed=1, size=64))
    cfg = TrainConfig(
        model="tiny",
        out=str(tmp_path / "o"),
        batch_size=2,
        max_steps=2,
        trainable=["fusion"],
        lr=1e-2,
    )
    res = train(cfg, resume=None, samples=data, model=model, progress=False)
    assert res["steps"] == 2 and res["stopped"] == "max_steps"
    after = {k: v.clone() for k, v in model.state_dict().items()}
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fusion"}
    # and with the image encoder trainable too, it changes as well
    cfg.trainable, cfg.out = ["fusion", "image"], str(tmp_path / "o2")
    train(cfg, resume=None, samples=data, model=model, progress=False)
    again = model.state_dict()
    changed = {k.split(".")[0] for k in after if not torch.equal(after[k], again[k])}
    assert changed == {"fusion", "image_encoder"}


def test_keep_last_prunes_old_checkpoints(tmp_path):
    data = samples(make_scenes(1, seed=3, size=64))[:2]
    cfg = TrainConfig(model="tiny", out=str(tmp_path / "o"), batch_size=2, epochs=3, keep_last=1)
    train(cfg, resume=None, samples=data, progress=False)
    assert [p.name for p in (tmp_path / "o" / "checkpoints").iterdir()] == ["epoch_3"]


def test_training_lowers_the_loss_on_a_fixed_batch(tmp_path):
    torch.manual_seed(0)
    data = samples(make_scenes(1, seed=2, size=64))[:2] * 6  # 12 steps of batch 1, one epoch
    cfg = TrainConfig(
        model="tiny",
        out=str(tmp_path / "o"),
        batch_size=1,
        epochs=1,
        trainable=["fusion", "image"],
        lr=3e-3,
        log_every=1,
    )
    train(cfg, resume=None, samples=data, progress=False)
    losses = [r["loss"] for r in _log(tmp_path / "o") if "event" not in r]
    assert len(losses) == 12
    assert np.mean(losses[-4:]) < np.mean(losses[:4])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": "8"}, "batch_size"),
        ({"lr": -1}, "lr"),
        ({"learning_rate": 1e-3}, "unknown"),
        ({"device": "tpu"}, "device"),
        ({"train": [1]}, "train"),
        ({"keep_last": 0}, "keep_last"),
        ({"max_steps": 0}, "max_steps"),
        ({"checkpoint_every": -1}, "checkpoint_every"),
        ({"val": "v.jsonl", "val_every": 0}, "val_every"),
        ({"model": {"family": "nope"}}, "unknown family"),
        ({"model": 3}, "model"),
    ],
)
def test_bad_config(data, match):
    with pytest.raises(TrainConfigError, match=match):
        TrainConfig.from_dict({"model": "tiny", "train": ["m.jsonl"], **data})


def test_old_configs_mean_xemap_and_move_the_loss_to_the_model():
    cfg = TrainConfig.from_dict({"model": "tiny", "loss": "balanced_l1", "train": "m.jsonl"})
    assert cfg.model == {"preset": "tiny", "loss": "balanced_l1"} and cfg.train == ["m.jsonl"]
    model = build_model(cfg.model)
    assert model.family == "xemap" and model.config.loss == "balanced_l1"
    with pytest.raises(TrainConfigError, match="loss"):
        build_model(TrainConfig.from_dict({"model": "tiny", "loss": "l2"}).model)
    new = build_model({"family": "xemap", "preset": "tiny", "image_size": 96})
    assert new.config.image_size == 96


def test_shipped_configs_read(tmp_path):
    from pathlib import Path

    import xemap

    for path in sorted((Path(xemap.__file__).parent / "configs").glob("*.json")):
        cfg = TrainConfig.from_json_file(path)
        assert isinstance(cfg.model, dict | str)


def test_bad_model_and_missing_files(tmp_path):
    with pytest.raises(TrainConfigError, match="preset"):
        build_model("huge")
    with pytest.raises(TrainConfigError, match="model"):
        build_model({"preset": "tiny", "pooling": "median"})
    with pytest.raises(TrainConfigError, match="does not exist"):
        TrainConfig.from_json_file(tmp_path / "nope.json")
    cfg = TrainConfig(model="tiny", out=str(tmp_path / "o"), train=[str(tmp_path / "m.jsonl")])
    with pytest.raises(ValueError, match=r"m\.jsonl does not exist"):
        train(cfg, resume=None, progress=False)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_amp_training(tmp_path):
    data = samples(make_scenes(2, seed=1, size=64))
    cfg = TrainConfig(
        model="tiny", out=str(tmp_path / "o"), batch_size=4, max_steps=3, device="cuda", amp=True
    )
    res = train(cfg, resume=None, samples=data, progress=False)
    assert res["steps"] == 3
    state = torch.load(latest_checkpoint(tmp_path / "o") / "state.pt", weights_only=False)
    assert state["scaler"]["scale"] > 0  # a GradScaler was in use


@pytest.mark.slow
def test_torchrun_ddp_two_cpu_processes(task, tmp_path):
    """torchrun + DistributedDataParallel (gloo) on CPU: rank 0 alone writes the outputs."""
    import os
    import subprocess
    import sys

    cfg = json.loads(_config(task).read_text())
    cfg.update(
        train=[str(task / "data" / "manifest.jsonl")],
        val=[str(task / "data" / "manifest.jsonl")],
        val_score_size=256,
        out=str(tmp_path / "ddp"),
        epochs=2,
        batch_size=2,
        device="cpu",
    )
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "xemap.cli",
        "train",
        str(tmp_path / "cfg.json"),
        "--quiet",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "ddp"
    assert latest_checkpoint(out) == out / "checkpoints" / "epoch_2"
    log = _log(out)
    n = len((task / "data" / "manifest.jsonl").read_text().splitlines())
    per_rank = -(-n // 2)  # DistributedSampler pads to an even split
    steps_per_epoch = -(-per_rank // 2)
    assert [r["step"] for r in log if r.get("event") == "epoch"] == [
        steps_per_epoch,
        2 * steps_per_epoch,
    ]
    # the validation log: each rank scored its half of the set into the torchmetrics metrics;
    # the gathered means equal one SeLoAccumulator over the final model's maps of both halves
    # (each half predicted in batches of 2 as its rank did: a batch-mate's padding moves a
    # map by an ulp)
    from xemap.data.datasets import load_image, read_manifest
    from xemap.engine.evaluate import score_maps
    from xemap.engine.predict import predict_maps
    from xemap.models import load_pretrained

    val = [r for r in log if r.get("event") == "val"]
    assert [r["epoch"] for r in val] == [1, 2]
    torch.set_num_threads(1)
    model = load_pretrained(out / "model")
    halves = [read_manifest(task / "data" / "manifest.jsonl")[r::2] for r in (0, 1)]
    maps = [
        m
        for h in halves
        for m in predict_maps(
            model, [load_image(s["image"]) for s in h], [s["query"] for s in h], batch_size=2
        )
    ]
    want = score_maps(maps, halves[0] + halves[1], score_size=256).compute()
    assert want["scored"] == n and val[-1]["n"] == n and val[-1]["failed"] == 0
    assert {k: val[-1][k] for k in ("rmi", "rsu", "ras", "rda")} == {
        k: want[k] for k in ("rmi", "rsu", "ras", "rda")
    }
