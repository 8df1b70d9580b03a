"""The engine is family-agnostic: a mask-supervised family defined here trains, resumes,
validates and predicts through it, and its loss gets ``mask`` (never ``target``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from xemap.engine.config import TrainConfig
from xemap.engine.loop import train
from xemap.engine.predict import load_model, write_probmaps
from xemap.engine.train_log import read_log
from xemap.models import registry
from xemap.models.base import ReferringModel
from xemap.models.configuration import ReferringConfig
from xemap.models.sources import load_tokenizer


@dataclass
class DummyConfig(ReferringConfig):
    image_size: int = 32
    image_mean: tuple = (0.5, 0.5, 0.5)
    image_std: tuple = (0.5, 0.5, 0.5)
    max_text_len: int = 16
    trainable: tuple = ("net",)

    def __post_init__(self) -> None:
        self.image_mean, self.image_std = tuple(self.image_mean), tuple(self.image_std)
        self.trainable = tuple(self.trainable)
        self.check_input_format()

    @classmethod
    def tiny(cls, **overrides: Any) -> DummyConfig:
        return cls(**overrides)


class DummyMask(ReferringModel):
    """A conv on the pixels plus a per-query bias, trained with BCE against the mask."""

    family = "dummy_mask"
    config_class = DummyConfig
    supervision = "mask"
    part_modules: ClassVar[dict[str, str]] = {"net": "net"}
    seen: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, config, *, load_pretrained=True, tokenizer=None) -> None:
        super().__init__()
        self.config = DummyConfig.from_dict(config.to_dict())
        self.tokenizer = load_tokenizer(str(tokenizer) if tokenizer is not None else "minilm")
        self.net = nn.ModuleDict(
            {"conv": nn.Conv2d(3, 1, 3, padding=1), "emb": nn.Embedding(30522, 1)}
        )
        self.set_trainable(self.config.trainable)

    def forward(self, pixel_values, input_ids, attention_mask=None, token_type_ids=None):
        m = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        q = (self.net["emb"](input_ids)[..., 0] * m).sum(1) / m.sum(1)
        return torch.sigmoid(self.net["conv"](pixel_values)[:, 0] + q[:, None, None])

    def loss(self, batch):
        DummyMask.seen.append(dict(batch))
        maps = self(batch["pixel_values"], batch["input_ids"], batch.get("attention_mask"))
        return F.binary_cross_entropy(maps, batch["mask"].float())


@pytest.fixture
def family():
    registry.register_model("dummy_mask", DummyMask)
    DummyMask.seen.clear()
    yield DummyMask
    registry._FAMILIES.pop("dummy_mask", None)


@pytest.fixture
def manifest(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    rows = [
        {
            "id": f"s{i}",
            "image": "a.png",
            "query": q,
            "polygons": [[[8, 8], [40, 8], [40, 40], [8, 40]]],
        }
        for i, q in enumerate(["the square", "a big square", "the left square"])
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mask_family_trains_resumes_validates_and_predicts(family, manifest, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(
        model={"family": "dummy_mask", "preset": "tiny"},
        train=[str(manifest)],
        val=[str(manifest)],
        out=str(out),
        epochs=1,
        batch_size=2,
        lr=0.05,
        device="cpu",
    )
    res = train(cfg, resume=None, progress=False)
    assert res["family"] == "dummy_mask" and res["steps"] == 2
    # the loss saw the mask at the input size, rasterised from the polygon scaled by 32/64:
    # the square [4, 20] x [4, 20] with its boundary, and never an MCMG target
    want = np.zeros((32, 32), bool)
    want[4:21, 4:21] = True
    for batch in DummyMask.seen:
        assert "target" not in batch and batch["mask"].dtype == torch.bool
        assert batch["pixel_values"].shape[1:] == (3, 32, 32)
        assert {"input_ids", "attention_mask", "query", "id"} <= set(batch)
        for m in batch["mask"]:
            np.testing.assert_array_equal(m.numpy(), want)
    assert json.loads((out / "model" / "config.json").read_text())["family"] == "dummy_mask"

    val = [r for r in read_log(out / "train_log.jsonl") if r.get("event") == "val"]
    assert len(val) == 1 and val[0]["n"] == 3 and 0 <= val[0]["rmi"] <= 1
    # a mask-supervised family's validation also logs the RRSIS metrics, equal to the
    # accumulator over the final model's maps (the epoch-1 model is the one saved as epoch_1)
    from selo_metrics.rrsis import RRSISAccumulator
    from xemap.data.datasets import load_image, read_manifest
    from xemap.engine.predict import predict_maps

    ep1 = load_model(out / "checkpoints" / "epoch_1" / "model", "cpu")
    rows = read_manifest(manifest)
    maps = predict_maps(
        ep1, [load_image(r["image"]) for r in rows], [r["query"] for r in rows], batch_size=2
    )
    acc = RRSISAccumulator()
    for m, r in zip(maps, rows, strict=True):
        acc.update(m, r["polygons"])
    want = acc.compute()
    assert {k: val[0][k] for k in ("miou", "oiou", "prec@0.5", "prec@0.9")} == {
        k: want[k] for k in ("miou", "oiou", "prec@0.5", "prec@0.9")
    }

    # a second epoch resumes from the first, on the same family
    cfg.epochs = 2
    res = train(cfg, resume="auto", progress=False)
    assert res["resumed_from"].endswith("epoch_1") and res["steps"] == 4

    model = load_model(out, "cpu")
    assert type(model) is DummyMask
    from xemap.data.datasets import read_manifest

    s = write_probmaps(model, read_manifest(manifest), tmp_path / "maps")
    assert s["n_queries"] == 3
    assert Image.open(tmp_path / "maps" / "probmap_0.png").size == (64, 64)
