"""The interface every referring-model family implements, and what they share.

A *referring model* turns an RGB image and a text query into a ``(B, H, W)`` probability
map in [0, 1] at the input size. Families (XeMap-Network, CroBIM, S4ECA) differ in their
blocks and their training loss, never in this surface, so one engine trains, predicts and
benchmarks all of them (``xemap.engine``) and knows nothing model-specific.

The contract::

    model = create_model("xemap", "tiny")        # xemap.models.registry
    model.family                  # registry name, e.g. "xemap"
    model.supervision             # "mcmg" (L1 against MCMG maps) or "mask" (binary masks)
    model.config                  # a ReferringConfig: JSON round trip, image_size,
                                  # image_mean / image_std, max_text_len, trainable
    batch = model.tokenize(["the red square"])   # input_ids, attention_mask[, token_type_ids]
    fn = model.tokenize_fn()      # the same on CPU, picklable (data-loader workers)
    pixel = model.preprocess([uint8_hwc, ...])   # (B, 3, S, S) normalised, on model.device
    pixel = model.normalise(uint8_bhwc_tensor)   # same without the resize (data loaders)
    probs = model(pixel, **batch)                # (B, S, S) float in [0, 1]
    loss = model.loss(train_batch)               # the family's own loss, a scalar tensor;
        # train_batch: pixel_values, input_ids, attention_mask[, token_type_ids] and
        # "target" (B, S, S) float MCMG / 255 when supervision == "mcmg",
        # "mask" (B, S, S) bool when supervision == "mask"
    model.parts(), model.set_trainable(("fusion",)), model.parameter_counts()
    model.save_pretrained(d); load_pretrained(d)  # config.json (+ "family"),
                                                  # model.safetensors, tokenizer files

Families subclass `ReferringModel`, set ``family``, ``config_class``, ``supervision`` and
``part_modules``, build their modules in ``__init__(config, *, load_pretrained=True,
tokenizer=None)`` and implement ``forward`` and ``loss``. Everything else here is shared.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xemap.models.configuration import ReferringConfig

__all__ = [
    "CONFIG_NAME",
    "SUPERVISIONS",
    "WEIGHTS_NAME",
    "ReferringConfig",
    "ReferringModel",
    "hf_tokenize",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: what a family's loss is trained against
SUPERVISIONS = ("mcmg", "mask")


def hf_tokenize(tokenizer: Any, max_len: int, queries: Sequence[str]) -> dict[str, torch.Tensor]:
    """Tokenize with a HF tokenizer: padded to the longest, truncated to ``max_len``, on CPU.

    Returns ``input_ids``, ``attention_mask`` and, when the tokenizer makes them,
    ``token_type_ids``.

    Examples
    --------
    >>> from xemap.models.sources import load_tokenizer
    >>> enc = hf_tokenize(load_tokenizer("minilm"), 8, ["a pond", "the big white building"])
    >>> sorted(enc), enc["attention_mask"].tolist()
    (['attention_mask', 'input_ids', 'token_type_ids'], [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    """
    enc = tokenizer(
        list(queries), padding="longest", truncation=True, max_length=max_len, return_tensors="pt"
    )
    out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    if "token_type_ids" in enc:
        out["token_type_ids"] = enc["token_type_ids"]
    return out


class ReferringModel(nn.Module):
    """Base class of every referring-model family (see the module docstring).

    Subclasses set the class attributes below, assign ``self.config`` and
    ``self.tokenizer`` in ``__init__``, call `set_trainable` at its end, and implement
    `forward` and `loss`.

    Attributes
    ----------
    family : str
        The registry name.
    config_class : type
        The family's `ReferringConfig` dataclass.
    supervision : {"mcmg", "mask"}
        What `loss` wants in the batch: ``"target"`` (MCMG / 255) or ``"mask"`` (bool).
    part_modules : dict
        Trainable-part name -> attribute name of the sub-module (`parts`).
    """

    family: ClassVar[str] = ""
    config_class: ClassVar[type] = ReferringConfig
    supervision: ClassVar[str] = "mcmg"
    part_modules: ClassVar[dict[str, str]] = {}

    config: Any
    tokenizer: Any

    def _build_text(self, load_pretrained: bool, tokenizer: str | os.PathLike | None) -> None:
        """``self.text_encoder`` (BERT) and ``self.tokenizer`` from ``self.config``: the text
        path every family shares (``config.text_encoder``, ``text_config``, ``tokenizer``)."""
        from xemap.models.sources import load_tokenizer
        from xemap.models.xemap_network.encoders import TextEncoder

        config = self.config
        self.text_encoder = TextEncoder(config, load_pretrained=load_pretrained)
        # record the built text encoder so a saved model rebuilds without its directory
        config.text_config = self.text_encoder.architecture()
        name = tokenizer if tokenizer is not None else config.tokenizer
        if name is None:
            name = config.text_encoder if config.text_encoder is not None else "minilm"
        self.tokenizer = load_tokenizer(str(name))
        vocab = self.text_encoder.model.config.vocab_size
        if len(self.tokenizer) > vocab:
            raise ValueError(
                f"tokenizer {name!r} has {len(self.tokenizer)} tokens, more than the text "
                f"encoder's vocab_size={vocab}"
            )

    # ------------------------------------------------------------------ parts
    def parts(self) -> dict[str, nn.Module]:
        """The trainable-part name to module mapping."""
        return {name: getattr(self, attr) for name, attr in self.part_modules.items()}

    def set_trainable(self, parts: Sequence[str]) -> None:
        """Set ``requires_grad`` so only ``parts`` train; record them in the config."""
        parts = (parts,) if isinstance(parts, str) else tuple(parts)
        bad = [p for p in parts if p not in self.part_modules]
        if bad:
            raise ValueError(
                f"{self.family}: trainable parts must be among {tuple(self.part_modules)}, "
                f"got {bad}"
            )
        for name, module in self.parts().items():
            module.requires_grad_(name in parts)
        self.config.trainable = parts
        self.train(self.training)

    def train(self, mode: bool = True) -> ReferringModel:
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

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.parameters()).device

    # ------------------------------------------------------------------ inputs
    def tokenize_fn(self) -> Callable[[Sequence[str]], dict[str, torch.Tensor]]:
        """A picklable ``queries -> dict of CPU tensors`` (what `tokenize` gives, on CPU).

        Data loaders call it in their worker processes (the model itself is never sent
        there). The default pads to the longest query and truncates to
        ``config.max_text_len`` with ``self.tokenizer``; a family with other text inputs
        overrides this hook, and `tokenize` follows it.
        """
        return functools.partial(hf_tokenize, self.tokenizer, int(self.config.max_text_len))

    def tokenize(self, queries: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenize queries (`tokenize_fn`) onto the model's device."""
        if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
            raise ValueError("queries must be a list of strings")
        if len(queries) == 0:
            raise ValueError("queries is empty")
        device = self.device
        return {k: v.to(device) for k, v in self.tokenize_fn()(list(queries)).items()}

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)`` normalised (no resize)."""
        x = images.permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.config.image_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.config.image_std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def preprocess(self, images: Sequence[Any]) -> torch.Tensor:
        """Resize uint8 HWC RGB images to ``image_size`` (bilinear, antialias), normalise."""
        if isinstance(images, np.ndarray | torch.Tensor) and images.ndim == 3:
            images = [images]
        if len(images) == 0:
            raise ValueError("images is empty")
        size = int(self.config.image_size)
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
                ).clamp_(0, 1)
            out.append(x[0])
        x = torch.stack(out).to(self.device)
        mean = torch.tensor(self.config.image_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.config.image_std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    @staticmethod
    def check_inputs(
        pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Validate the forward inputs of any family; return the attention mask (all ones if
        None), as ``long``."""
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

    # ------------------------------------------------------------------ the family's part
    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The probability map ``(B, H, W)`` in [0, 1] at the input size."""
        raise NotImplementedError

    def loss(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The family's training loss on a batch (see the module docstring), a scalar."""
        raise NotImplementedError

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write ``config.json`` (with ``"family"``), ``model.safetensors``, tokenizer files."""
        from safetensors.torch import save_file

        path = Path(save_directory)
        if path.exists() and not path.is_dir():
            raise ValueError(f"save_directory {path} exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        data = {"family": self.family, **self.config.to_dict()}
        (path / CONFIG_NAME).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(path / WEIGHTS_NAME), metadata={"format": "pt", "xemap": "1"})
        self.tokenizer.save_pretrained(str(path))

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, map_location: str | torch.device = "cpu"
    ) -> ReferringModel:
        """Load a model written by `save_pretrained` (in eval mode); weights must fit."""
        from safetensors.torch import load_file

        path = Path(directory)
        if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
            raise ValueError(
                f"{path} is not a saved {cls.__name__} (needs {CONFIG_NAME} and {WEIGHTS_NAME})"
            )
        data = json.loads((path / CONFIG_NAME).read_text())
        family = data.pop("family", cls.family)
        if cls.family and family != cls.family:
            raise ValueError(f"{path} holds a {family!r} model, not {cls.family!r}")
        config = cls.config_class.from_dict(data)
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
