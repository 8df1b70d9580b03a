"""CLIP-SeLo fine-tuning: the final layers of CLIP's two encoders on image-caption pairs.

As in the XeMap paper's CLIP-SeLo baseline: only the last ``trainable_layers``
transformer layers of the text and image encoders (with their final layer norms and
projections) are trained, with SGD (lr 1e-4) on CLIP's symmetric contrastive loss, on
RSITMD-format pairs: a JSON ``{"images": [{"filename": str, "split": "train"|"val"|"test",
"sentences": [{"raw": str}, ...]}, ...]}`` and a folder of images.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .scorers import CLIPScorer, crop_resize

__all__ = ["clip_loss", "finetune_clip", "freeze_all_but_last", "load_rsitmd_pairs"]


def load_rsitmd_pairs(
    anno: str | Path, images_dir: str | Path, *, split: str | None = "train"
) -> list[tuple[Path, str]]:
    """``(image path, caption)`` pairs of an RSITMD-format JSON, one per sentence.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.json").write_text(json.dumps({"images": [{"filename": "x.tif",
    ...     "split": "train", "sentences": [{"raw": "a red roof"}, {"raw": "a roof"}]}]}))
    >>> [(p.name, c) for p, c in load_rsitmd_pairs(d / "a.json", d)]
    [('x.tif', 'a red roof'), ('x.tif', 'a roof')]
    """
    data = json.loads(Path(anno).read_text(encoding="utf8"))
    images = data["images"] if isinstance(data, dict) else data
    if not isinstance(images, list):
        raise ValueError(f"{anno}: expected a list of images under 'images'")
    pairs = []
    for item in images:
        if split is not None and item.get("split", split) != split:
            continue
        for sent in item.get("sentences", []):
            text = sent["raw"] if isinstance(sent, dict) else str(sent)
            pairs.append((Path(images_dir) / item["filename"], text.strip()))
    if not pairs:
        raise ValueError(f"{anno}: no image-caption pairs (split={split!r})")
    return pairs


def freeze_all_but_last(model, trainable_layers: int = 1) -> list[str]:
    """Freeze a CLIPModel except the last layers of both encoders; return the trained names.

    Trained: the last ``trainable_layers`` encoder layers of the text and vision
    transformers, the text ``final_layer_norm``, the vision ``post_layernorm`` and both
    projections. ``logit_scale`` stays fixed.
    """
    if trainable_layers < 1:
        raise ValueError(f"trainable_layers must be >= 1, got {trainable_layers}")
    for p in model.parameters():
        p.requires_grad_(False)
    modules = [
        *model.text_model.encoder.layers[-trainable_layers:],
        *model.vision_model.encoder.layers[-trainable_layers:],
        model.text_model.final_layer_norm,
        model.vision_model.post_layernorm,
        model.text_projection,
        model.visual_projection,
    ]
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(True)
    return [n for n, p in model.named_parameters() if p.requires_grad]


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale) -> torch.Tensor:
    """CLIP's symmetric InfoNCE over a batch of matching image and text embeddings."""
    img = F.normalize(image_emb, dim=-1)
    txt = F.normalize(text_emb, dim=-1)
    logits = logit_scale.exp() * img @ txt.t()
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def _load_pixels(path: Path, size: int, device) -> torch.Tensor:
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    return crop_resize(img, np.array([[0, h, 0, w]]), size, device=device)[0]


def finetune_clip(
    clip: CLIPScorer,
    pairs: Sequence[tuple[Path, str]],
    *,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 1e-4,
    momentum: float = 0.9,
    trainable_layers: int = 1,
    seed: int = 0,
) -> list[float]:
    """Fine-tune ``clip.model`` in place on image-caption pairs; return the loss per step.

    SGD (``lr``, ``momentum``) on :func:`clip_loss`, only the parameters
    :func:`freeze_all_but_last` leaves trainable. Batches are shuffled with ``seed``. The
    model is left in eval mode.
    """
    if not pairs:
        raise ValueError("no training pairs")
    torch.manual_seed(seed)
    model = clip.model
    trained = freeze_all_but_last(model, trainable_layers)
    params = [p for n, p in model.named_parameters() if n in set(trained)]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    cache: dict[Path, torch.Tensor] = {}
    order = list(range(len(pairs)))
    rnd = random.Random(seed)
    losses = []
    model.train()
    for _ in range(epochs):
        rnd.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [pairs[i] for i in order[start : start + batch_size]]
            if len(batch) < 2:
                continue  # a contrastive loss needs negatives
            for path, _ in batch:
                if path not in cache:
                    cache[path] = _load_pixels(path, clip.input_size, "cpu")
            pixels = torch.stack([cache[p] for p, _ in batch]).to(clip.device)
            img = clip.encode_images(pixels)
            txt = clip.encode_texts([t for _, t in batch])
            loss = clip_loss(img, txt, model.logit_scale)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    model.eval()
    return losses
