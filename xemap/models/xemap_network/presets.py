"""XeMap-Network's named configurations, as plain field dicts (no torch).

* `PAPER`: the paper's encoder dimensions (BERT-base, Swin-T), the dataclass defaults;
* `TINY`: random tiny encoders and one fusion layer for tests (CPU forward well under 1 s);
* `DEMO`: the pretrained MiniLM-L6 text encoder, a small random Swin, two fusion layers;
* `grounding_dino_fields`: the fields matching a local HF Grounding DINO checkpoint.

`XeMapConfig.tiny`, `.demo`, `.paper` and `.from_grounding_dino` build configs from these.
"""

from __future__ import annotations

import json
import os
from typing import Any

from xemap.models.sources import resolve_local_dir

__all__ = ["BERT_BASE", "DEMO", "SWIN_T", "TINY", "grounding_dino_fields"]

#: BERT-base (uncased) dimensions, the text encoder of the paper and of Grounding DINO.
BERT_BASE: dict[str, Any] = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
}
#: Swin-T dimensions (the backbone of Grounding DINO-T).
SWIN_T: dict[str, Any] = {
    "embed_dim": 96,
    "depths": [2, 2, 6, 2],
    "num_heads": [3, 6, 12, 24],
    "window_size": 7,
    "patch_size": 4,
    "drop_path_rate": 0.1,
}

#: ``d_model=32``, one fusion layer, 64 px input; the BERT keeps the 30522-token vocabulary
#: so the MiniLM (BERT-base uncased) tokenizer fits it.
TINY: dict[str, Any] = {
    "text_encoder": None,
    "text_config": {
        "vocab_size": 30522,
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 128,
    },
    "tokenizer": "minilm",
    "swin_config": {
        "embed_dim": 16,
        "depths": [1, 1, 1, 1],
        "num_heads": [1, 2, 2, 4],
        "window_size": 4,
        "patch_size": 4,
        "drop_path_rate": 0.0,
    },
    "d_model": 32,
    "norm_groups": 8,
    "num_fusion_layers": 1,
    "fusion_heads": 4,
    "fusion_ffn_dim": 64,
    "n_points": 2,
    "dropout": 0.0,
    "fusion_droppath": 0.0,
    "max_text_len": 32,
    "image_size": 64,
}

#: Pretrained MiniLM-L6 text encoder, small random Swin, two fusion layers, 256 px.
DEMO: dict[str, Any] = {
    "text_encoder": "minilm",
    "text_config": {},
    "tokenizer": None,
    "swin_config": {
        "embed_dim": 32,
        "depths": [1, 1, 2, 1],
        "num_heads": [1, 2, 4, 8],
        "window_size": 8,
        "patch_size": 4,
        "drop_path_rate": 0.0,
    },
    "d_model": 64,
    "num_fusion_layers": 2,
    "fusion_heads": 4,
    "fusion_ffn_dim": 256,
    "n_points": 4,
    "max_text_len": 64,
    "image_size": 256,
}

_SWIN_KEYS = ("embed_dim", "depths", "num_heads", "window_size", "patch_size", "mlp_ratio")
_TEXT_KEYS = (*BERT_BASE, "type_vocab_size", "hidden_act", "layer_norm_eps")


def grounding_dino_fields(path: str | os.PathLike) -> dict[str, Any]:
    """XeMapConfig fields matching the architecture of a local HF Grounding DINO checkpoint.

    Reads the directory's ``config.json`` (a ``GroundingDinoConfig``): text encoder, Swin
    backbone and encoder dimensions; ``grounding_dino`` is set to ``path`` so the network
    loads its weights.

    Raises
    ------
    ValueError
        If the directory or its ``config.json`` is missing or not a Grounding DINO one.
    """
    p = resolve_local_dir(str(path), what="grounding_dino")
    cfg_file = p / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"grounding_dino: {p} has no config.json")
    gd = json.loads(cfg_file.read_text())
    if gd.get("model_type") != "grounding-dino":
        raise ValueError(f"{cfg_file} is not a Grounding DINO config: {gd.get('model_type')}")
    backbone = dict(gd.get("backbone_config") or {})
    if backbone.get("model_type", "swin") != "swin" or gd.get("use_timm_backbone"):
        raise ValueError("only Grounding DINO checkpoints with a transformers Swin backbone load")
    out = backbone.get("out_features") or ["stage2", "stage3", "stage4"]
    text = dict(gd.get("text_config") or {})
    has_tokenizer = (p / "vocab.txt").is_file() or (p / "tokenizer.json").is_file()
    return {
        "text_encoder": None,
        "text_config": {k: text[k] for k in _TEXT_KEYS if k in text},
        "tokenizer": str(p) if has_tokenizer else "minilm",
        "swin_config": {k: backbone[k] for k in _SWIN_KEYS if k in backbone},
        "level_layout": "gdino" if list(out) == ["stage2", "stage3", "stage4"] else "swin4",
        "grounding_dino": str(p),
        "d_model": gd.get("d_model", 256),
        "num_fusion_layers": gd.get("encoder_layers", 6),
        "fusion_heads": gd.get("encoder_attention_heads", 8),
        "fusion_ffn_dim": gd.get("encoder_ffn_dim", 2048),
        "n_points": gd.get("encoder_n_points", 4),
        "dropout": gd.get("dropout", 0.1),
        "activation_dropout": gd.get("activation_dropout", 0.0),
        "fusion_droppath": gd.get("fusion_droppath", 0.1),
        "fusion_dropout": gd.get("fusion_dropout", 0.0),
        "text_enhancer_dropout": gd.get("text_enhancer_dropout", 0.0),
        "activation": gd.get("activation_function", "relu"),
        "max_text_len": gd.get("max_text_len", 256),
    }
