"""Text and image encoders of XeMap-Network, built by name and loaded from local files only.

* `TextEncoder`: a transformers ``BertModel`` (no pooler) giving per-token features.
* `ImageEncoder`: transformers' ``SwinBackbone`` (pure PyTorch) giving the Swin stages
  selected by the level layout, or a timm model (``"timm:<name>"``, imported lazily).

The module names follow Grounding DINO (``TextEncoder.model`` is its ``text_backbone``,
``ImageEncoder.model`` its ``backbone.conv_encoder.model``) so its weights map one to one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from xemap.models.sources import quiet_transformers, resolve_local_dir
from xemap.models.xemap_network.config import XeMapConfig

__all__ = ["ImageEncoder", "TextEncoder"]


def _from_pretrained(model_class, path: Path, what: str, ignore: tuple[str, ...] = (), **kwargs):
    """``model_class.from_pretrained(path)`` offline; warn about weights the files lack."""
    try:
        with quiet_transformers():
            model, info = model_class.from_pretrained(
                str(path), local_files_only=True, output_loading_info=True, **kwargs
            )
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{what}: cannot load a {model_class.__name__} from {path}: {exc}"
        ) from exc
    missing = [k for k in info.get("missing_keys", ()) if not k.startswith(ignore)]
    if missing:
        warnings.warn(
            f"{what}: {path} lacks {len(missing)} weights, randomly initialised: {missing[:5]}",
            stacklevel=3,
        )
    return model


def _check_kwargs(config_class, kwargs: dict, what: str) -> None:
    """Reject keys that are not attributes of ``config_class`` (HF configs accept anything)."""
    default = config_class()
    unknown = sorted(k for k in kwargs if not hasattr(default, k))
    if unknown:
        raise ValueError(f"{what} has keys unknown to {config_class.__name__}: {unknown}")


class TextEncoder(nn.Module):
    """BERT text encoder: token ids to per-token features ``(B, S, hidden_size)``.

    Parameters
    ----------
    config : XeMapConfig
        Uses ``text_encoder`` and ``text_config``.
    load_pretrained : bool
        Load the weights of ``config.text_encoder`` (``"minilm"`` or a local directory); when
        False, or when ``text_encoder`` is None, the BERT is built from ``text_config`` with
        random weights.

    Attributes
    ----------
    model : transformers.BertModel
    hidden_size : int

    Examples
    --------
    >>> enc = TextEncoder(XeMapConfig.tiny())
    >>> ids = torch.tensor([[101, 1037, 102]])
    >>> enc(ids, torch.ones_like(ids)).shape
    torch.Size([1, 3, 32])
    """

    def __init__(self, config: XeMapConfig, *, load_pretrained: bool = True) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel

        if config.text_encoder is not None and load_pretrained:
            path = resolve_local_dir(config.text_encoder, what="text_encoder")
            self.model = _from_pretrained(BertModel, path, "text_encoder", add_pooling_layer=False)
        else:
            _check_kwargs(BertConfig, config.text_config, "text_config")
            bert_config = BertConfig(**config.text_config)
            self.model = BertModel(bert_config, add_pooling_layer=False)
        self.hidden_size = int(self.model.config.hidden_size)

    def architecture(self) -> dict:
        """BertConfig fields that rebuild this encoder without its original directory."""
        c = self.model.config
        keys = (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
            "hidden_act",
            "layer_norm_eps",
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
        )
        return {k: getattr(c, k) for k in keys}

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-token features ``(B, S, hidden_size)``; padding tokens are not attended to."""
        max_len = self.model.config.max_position_embeddings
        if input_ids.shape[1] > max_len:
            raise ValueError(
                f"input_ids has {input_ids.shape[1]} tokens, more than the text encoder's "
                f"max_position_embeddings={max_len}"
            )
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        return out.last_hidden_state


class ImageEncoder(nn.Module):
    """Image encoder giving the multi-scale feature maps of the level layout.

    Parameters
    ----------
    config : XeMapConfig
        Uses ``image_encoder``, ``swin_config``, ``image_pretrained`` and ``level_layout``.
    load_pretrained : bool
        Load ``config.image_pretrained`` (a local directory) if set.

    Attributes
    ----------
    model : transformers.SwinBackbone or timm model
    channels : list of int
        Channels of each returned map (stages ``config.swin_out_stages``).
    strides : list of int
        Stride of each returned map with respect to the input.

    Examples
    --------
    >>> enc = ImageEncoder(XeMapConfig.tiny())
    >>> [tuple(f.shape) for f in enc(torch.zeros(1, 3, 64, 64))]
    [(1, 32, 8, 8), (1, 64, 4, 4), (1, 128, 2, 2)]
    """

    def __init__(self, config: XeMapConfig, *, load_pretrained: bool = True) -> None:
        super().__init__()
        stages = config.swin_out_stages
        self.kind = "timm" if config.image_encoder.startswith("timm:") else "swin"
        if self.kind == "timm":
            self._build_timm(config, stages, load_pretrained)
            return
        from transformers import SwinBackbone, SwinConfig

        out_features = [f"stage{s}" for s in stages]
        _check_kwargs(SwinConfig, config.swin_config, "swin_config")
        swin_config = SwinConfig(**config.swin_config, out_features=out_features)
        if config.image_pretrained is not None and load_pretrained:
            path = resolve_local_dir(config.image_pretrained, what="image_pretrained")
            self.model = _from_pretrained(
                SwinBackbone,
                path,
                "image_pretrained",
                ignore=("hidden_states_norms.",),  # the stage norms are new in a backbone
                out_features=out_features,
            )
        else:
            self.model = SwinBackbone(swin_config)
        # SwinModel's final LayerNorm feeds nothing a backbone returns: drop the unused weights
        self.model.swin.layernorm = nn.Identity()
        self.channels = [int(c) for c in self.model.channels]
        patch = int(self.model.config.patch_size)
        self.strides = [patch * 2 ** (s - 1) for s in stages]

    def _build_timm(self, config: XeMapConfig, stages: tuple, load_pretrained: bool) -> None:
        try:
            import timm
        except Exception as exc:  # timm needs torchvision, absent beside CPU torch wheels
            raise ImportError(
                f"image_encoder {config.image_encoder!r} needs timm (and torchvision), which "
                f"could not be imported: {exc}. Use image_encoder='swin' instead."
            ) from exc
        name = config.image_encoder[len("timm:") :]
        checkpoint = ""
        if config.image_pretrained is not None and load_pretrained:
            checkpoint = str(config.image_pretrained)
            if not Path(checkpoint).is_file():
                raise ValueError(f"image_pretrained: timm weights file {checkpoint} not found")
        try:
            self.model = timm.create_model(
                name,
                pretrained=False,
                features_only=True,
                out_indices=tuple(s - 1 for s in stages),
                checkpoint_path=checkpoint,
            )
        except RuntimeError as exc:
            raise ValueError(f"image_encoder: timm cannot build {name!r}: {exc}") from exc
        self.channels = [int(c) for c in self.model.feature_info.channels()]
        self.strides = [int(r) for r in self.model.feature_info.reduction()]

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps ``[(B, C_l, H / stride_l, W / stride_l)]`` (sizes rounded up)."""
        if self.kind == "swin":
            return list(self.model(pixel_values).feature_maps)
        maps = []
        for f, c in zip(self.model(pixel_values), self.channels, strict=True):
            if f.shape[1] != c and f.shape[-1] == c:  # NHWC (timm swin) to NCHW
                f = f.permute(0, 3, 1, 2)
            maps.append(f.contiguous())
        return maps
