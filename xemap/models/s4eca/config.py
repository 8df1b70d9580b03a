"""`S4ECAConfig`: architecture, weight sources, input format and trainable parts (no torch).

Presets
-------
``S4ECAConfig()``
    The paper's setting with RMSIN's recipe where the paper is silent: frozen BERT-base and
    frozen Swin-B (window 12), 480 px, 20 tokens; the adapters and the decoder train.
    Weights are random unless local BERT / Swin directories are given.
``S4ECAConfig.demo()``
    A model that learns the synthetic task on 2 CPU cores: the pretrained MiniLM-L6 and the
    pretrained EfficientNet-Lite0 (both frozen), 64 px, lr 1e-3.
``S4ECAConfig.tiny()``
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

__all__ = ["PARTS", "S4ECAConfig"]

#: trainable parts: the BERT, the image backbone, the textual + visual adapters, the decoder
PARTS = ("text", "image", "adapters", "decoder")


@dataclass
class S4ECAConfig(MaskModelConfig):
    """An S4ECA model (shared fields: `xemap.models.layers.mask_config.MaskModelConfig`).

    Parameters
    ----------
    proxy_dim : int
        Width of the language proxies (the textual adapter).
    num_queries : int
        Learnable queries of the textual adapter (= number of proxies).
    num_heads : int
        Heads of the textual adapter's cross-attention.
    ffn_dim : int
        FFN width of the textual adapter.
    adapter_reduction : int
        Bottleneck of a visual adapter: ``channels // adapter_reduction`` (at least 8).
    dilations : tuple of int
        Branches of the multi-scale dense extractor (depthwise 3x3, one per dilation).
    adapter_init_scale : float
        Initial gain of each visual adapter's residual output.
    decoder_dim : int
        Width of the light decoder.
    dropout : float

    Examples
    --------
    >>> cfg = S4ECAConfig.tiny()
    >>> cfg.num_queries, cfg.trainable
    (4, ('adapters', 'decoder'))
    >>> S4ECAConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    backbone_config: dict = field(default_factory=lambda: dict(SWIN_B_WINDOW12))
    proxy_dim: int = 256
    num_queries: int = 4
    num_heads: int = 8
    ffn_dim: int = 768
    adapter_reduction: int = 2
    dilations: tuple = (1, 2, 3)
    adapter_init_scale: float = 0.1
    decoder_dim: int = 128
    dropout: float = 0.0
    trainable: tuple = ("adapters", "decoder")

    PARTS = PARTS

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first bad one.

        Examples
        --------
        >>> S4ECAConfig.tiny(dilations=())
        Traceback (most recent call last):
        ...
        ValueError: dilations must hold at least one positive dilation, got ()
        """
        super().validate()
        self.dilations = tuple(int(d) for d in self.dilations)
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(
                f"dilations must hold at least one positive dilation, got {self.dilations}"
            )
        self._positive(
            "proxy_dim", "num_queries", "num_heads", "ffn_dim", "adapter_reduction", "decoder_dim"
        )
        if self.proxy_dim % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide proxy_dim={self.proxy_dim}")

    @classmethod
    def tiny(cls, **overrides: Any) -> S4ECAConfig:
        """Random tiny encoders, 4 proxies of width 16, 64 px: for tests.

        Examples
        --------
        >>> S4ECAConfig.tiny(image_size=96).image_size
        96
        """
        base = dict(
            **tiny_encoders(),
            proxy_dim=16,
            num_queries=4,
            num_heads=2,
            ffn_dim=32,
            adapter_reduction=2,
            decoder_dim=16,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def demo(cls, **overrides: Any) -> S4ECAConfig:
        """Pretrained MiniLM-L6 and EfficientNet-Lite0, both frozen; 64 px, lr 1e-3.

        Examples
        --------
        >>> cfg = S4ECAConfig.demo()
        >>> cfg.text_encoder, cfg.backbone, cfg.trainable
        ('minilm', 'efficientnet-lite0', ('adapters', 'decoder'))
        """
        base = dict(
            **demo_encoders(),
            proxy_dim=64,
            num_queries=4,
            num_heads=4,
            ffn_dim=128,
            adapter_reduction=1,
            decoder_dim=64,
        )
        base.update(overrides)
        return cls(**base)
