"""``xemap predict``: probmaps at the original size, no overwrite, tiles, scored by selo-metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from xemap.cli import main
from xemap.data.synthetic import make_scenes, write_task
from xemap.engine.predict import PredictError, find_model_dir, predict_maps, tile_starts, to_uint8
from xemap.models import create_model, load_pretrained


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("pred")
    torch.manual_seed(0)
    model = create_model("xemap", "tiny").eval()
    model.save_pretrained(root / "model")
    paths = write_task(root / "data", make_scenes(3, seed=4, size=96, balanced=True))
    return root, model, paths


def _args(root, paths, out, *extra):
    return [
        "predict",
        str(root / "model"),
        "--anno",
        str(paths["anno"]),
        "--images",
        str(paths["images"]),
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--quiet",
        *extra,
    ]


def test_predict_writes_maps_at_original_size_and_they_score(setup, capsys):
    root, model, paths = setup
    out = root / "maps"
    assert main(_args(root, paths, out)) == 0
    assert "ms/query" in capsys.readouterr().out
    anno = json.loads(paths["anno"].read_text())
    for idx, e in enumerate(anno):
        im = Image.open(out / f"probmap_{idx}.png")
        assert im.mode == "L" and im.size == Image.open(paths["images"] / e["jpg_name"]).size
    # the PNG holds uint8(rint(255 * map)) of the model's map; the CLI batched the queries
    # two by two in the order of their image paths, and padding a query to its batch's
    # longest moves the map by an ulp, so the reference is computed on the same batch
    first = sorted(range(len(anno)), key=lambda i: anno[i]["jpg_name"])[:2]
    imgs = [
        np.array(Image.open(paths["images"] / anno[i]["jpg_name"]).convert("RGB")) for i in first
    ]
    maps = predict_maps(model, imgs, [anno[i]["caption"] for i in first], batch_size=2)
    for i, m in zip(first, maps, strict=True):
        png = np.asarray(Image.open(out / f"probmap_{i}.png"))
        np.testing.assert_array_equal(png, to_uint8(m))
    times = json.loads((out / "predict_times.json").read_text())
    assert times["n_queries"] == len(anno) and len(times["per_query"]) == len(anno)
    assert times["mean_seconds_per_query"] > 0 and times["mode"] == "resize"

    # selo-metrics score reads them
    from selo_metrics.cli import main as selo_main

    run = root / "run"
    assert (
        selo_main(
            [
                "score",
                str(paths["anno"]),
                str(out),
                "--out",
                str(run),
                "--workers",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["scored"] == len(anno) and summary["failed"] == 0


def test_predict_refuses_to_overwrite(setup, capsys):
    root, _, paths = setup
    out = root / "maps2"
    assert main(_args(root, paths, out)) == 0
    before = (out / "probmap_1.png").stat().st_mtime_ns
    assert main(_args(root, paths, out)) == 2
    assert "already exist" in capsys.readouterr().err
    assert (out / "probmap_1.png").stat().st_mtime_ns == before
    assert main(_args(root, paths, out, "--overwrite")) == 0


def test_predict_from_manifest_and_training_out(setup, tmp_path):
    root, _, paths = setup
    out = tmp_path / "maps"
    (tmp_path / "train_out" / "checkpoints" / "epoch_3").mkdir(parents=True)
    ck = tmp_path / "train_out" / "checkpoints" / "epoch_3"
    load_pretrained(root / "model").save_pretrained(ck / "model")
    torch.save({"epoch": 3, "step": 9}, ck / "state.pt")  # a checkpoint without meta.json
    assert find_model_dir(tmp_path / "train_out") == ck / "model"
    args = [
        "predict",
        "--model",
        str(tmp_path / "train_out"),
        "--manifest",
        str(paths["manifest"]),
        "--out",
        str(out),
        "--quiet",
        "--tiles",
        "--tile-size",
        "64",
    ]
    assert main(args) == 0
    n = len(paths["manifest"].read_text().splitlines())
    assert sorted(p.name for p in out.glob("probmap_*.png")) == sorted(
        f"probmap_{i}.png" for i in range(n)
    )
    with pytest.raises(PredictError, match="no saved model"):
        find_model_dir(tmp_path)


class PixelModel:
    """A stand-in network whose map is a per-pixel function of the input: tiles must
    reproduce it exactly at native resolution, whatever the blending weights."""

    def __init__(self, size):
        from xemap.models.xemap_network.config import XeMapConfig

        self.config = XeMapConfig.tiny(image_size=size)
        self.device = torch.device("cpu")
        self.calls = 0

    def tokenize(self, queries):
        return {
            "input_ids": torch.ones(len(queries), 2, dtype=torch.long),
            "attention_mask": torch.ones(len(queries), 2, dtype=torch.long),
        }

    def preprocess(self, images):
        x = torch.stack([torch.as_tensor(np.ascontiguousarray(i)) for i in images]).float()
        x = x.permute(0, 3, 1, 2) / 255.0
        if x.shape[-1] != self.config.image_size:
            x = torch.nn.functional.interpolate(x, size=(self.config.image_size,) * 2)
        return x

    def __call__(self, pixel, input_ids, attention_mask, token_type_ids=None):
        self.calls += 1
        return pixel[:, 0] * 0.5 + pixel[:, 2] * 0.25


def test_tiles_blend_to_the_per_pixel_map():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    model = PixelModel(64)
    got = predict_maps(model, [img], ["q"], tiles=True, batch_size=4)[0]
    want = img[..., 0] / 255.0 * 0.5 + img[..., 2] / 255.0 * 0.25
    assert got.shape == (150, 200)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # 150 rows: starts [0, 48, 86]; 200 cols: [0, 48, 96, 136] -> 12 tiles in 3 batches of 4
    assert tile_starts(150, 64, 16) == [0, 48, 86] and model.calls == 3


def test_tile_starts_cover_and_validate():
    for length in (64, 65, 100, 513, 1000):
        s = tile_starts(length, 64, 16)
        covered = np.zeros(length, bool)
        for a in s:
            covered[a : a + 64] = True
        assert covered.all() and s[-1] + 64 == max(length, 64)
    with pytest.raises(PredictError):
        tile_starts(100, 64, 64)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_predict_on_cuda(setup, tmp_path):
    root, _, paths = setup
    assert main([*_args(root, paths, tmp_path / "m"), "--device", "cuda"]) == 0
    times = json.loads((tmp_path / "m" / "predict_times.json").read_text())
    assert times["device"].startswith("cuda")


def test_predict_imports_no_training_code(setup, tmp_path):
    import subprocess
    import sys

    root, _, paths = setup
    code = (
        "import sys; from xemap.cli import main; "
        f"rc = main({_args(root, paths, tmp_path / 'm')!r}); "
        "bad = sorted(m for m in sys.modules if m.startswith(('xemap.engine.loop', "
        "'xemap.engine.config', 'xemap.engine.distributed', 'xemap.engine.text_cache')));"
        "print(rc, bad)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "0 []"


def test_predict_usage_errors(setup, tmp_path, capsys):
    root, _, paths = setup
    args = _args(root, paths, tmp_path / "m")
    assert main([*args, "--model", str(root / "model")]) == 2  # the model given twice
    assert "give the model folder once" in capsys.readouterr().err
    assert main([a for a in args if a != str(root / "model")]) == 2  # no model at all
    assert "error:" in capsys.readouterr().err
    bad = [*args[:1], str(tmp_path), *args[2:]]
    assert main(bad) == 2 and "no saved model" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*args, "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
