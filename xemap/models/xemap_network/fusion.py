"""The fusion layers of XeMap-Network: Grounding DINO's feature enhancer.

Each of the N layers (transformers' ``GroundingDinoEncoderLayer``, reused as is) runs

1. image-to-text and text-to-image cross-attention (``GroundingDinoFusionLayer``),
2. text self-attention + FFN (``GroundingDinoTextEnhancerLayer``),
3. multi-scale deformable self-attention over all image tokens + FFN
   (``GroundingDinoDeformableLayer`` with ``MultiScaleDeformableAttention``; no FPN).

`FusionEncoder` adds what Grounding DINO's model puts around its encoder: the text
projection, the per-level input projections (1x1 conv + GroupNorm, plus stride-2 3x3 convs for
extra levels), sine position embeddings plus learned level embeddings, and the reference points.
Its parameter names match a Grounding DINO checkpoint's ``model.text_projection``,
``model.input_proj_vision``, ``model.level_embed`` and ``model.encoder.layers``.

The deformable attention runs the pure PyTorch path (``grid_sample``): transformers only swaps
in a hub kernel when the optional ``kernels`` package is installed *and* a model is explicitly
kernelized, which XeMap never does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xemap.models.xemap_network.config import XeMapConfig

__all__ = ["FusionEncoder", "build_gdino_config", "text_self_attention_mask"]


def build_gdino_config(config: XeMapConfig):
    """The ``transformers.GroundingDinoConfig`` that the reused layers read.

    Examples
    --------
    >>> build_gdino_config(XeMapConfig.tiny()).encoder_ffn_dim
    64
    """
    from transformers import GroundingDinoConfig

    return GroundingDinoConfig(
        d_model=config.d_model,
        encoder_layers=config.num_fusion_layers,
        encoder_ffn_dim=config.fusion_ffn_dim,
        encoder_attention_heads=config.fusion_heads,
        encoder_n_points=config.n_points,
        num_feature_levels=config.num_levels,
        dropout=config.dropout,
        activation_dropout=config.activation_dropout,
        fusion_droppath=config.fusion_droppath,
        fusion_dropout=config.fusion_dropout,
        text_enhancer_dropout=config.text_enhancer_dropout,
        activation_function=config.activation,
        max_text_len=config.max_text_len,
        disable_custom_kernels=True,
    )


def text_self_attention_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Pairs of tokens that may NOT attend to each other, ``(B, S, S)`` bool.

    Real tokens attend to all real tokens; a padding token attends only to itself (so its
    softmax is defined); no token attends to padding.

    Examples
    --------
    >>> text_self_attention_mask(torch.tensor([[1, 1, 0]])).int()
    tensor([[[0, 0, 1],
             [0, 0, 1],
             [1, 1, 0]]], dtype=torch.int32)
    """
    real = attention_mask.bool()
    allowed = real[:, :, None] & real[:, None, :]
    eye = torch.eye(real.shape[1], dtype=torch.bool, device=real.device)
    return ~(allowed | eye)


def sine_position_embedding(
    batch: int, height: int, width: int, dim: int, *, temperature: float, device, dtype
) -> torch.Tensor:
    """Grounding DINO's 2-D sine position embedding of a full (unpadded) map, ``(B, dim, h, w)``.

    Equal to ``GroundingDinoSinePositionEmbedding`` with an all-ones pixel mask.

    Examples
    --------
    >>> pe = sine_position_embedding(2, 3, 4, 32, temperature=20, device="cpu", dtype=torch.float32)
    >>> pe.shape
    torch.Size([2, 32, 3, 4])
    """
    half = dim // 2
    scale = 2 * math.pi
    eps = 1e-6
    y = torch.arange(1, height + 1, dtype=torch.float32, device=device) / (height + eps) * scale
    x = torch.arange(1, width + 1, dtype=torch.float32, device=device) / (width + eps) * scale
    dim_t = torch.arange(half, dtype=torch.float32, device=device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
    px = x[:, None] / dim_t  # (w, half)
    py = y[:, None] / dim_t  # (h, half)
    px = torch.stack((px[:, 0::2].sin(), px[:, 1::2].cos()), dim=2).flatten(1)
    py = torch.stack((py[:, 0::2].sin(), py[:, 1::2].cos()), dim=2).flatten(1)
    pos = torch.cat(
        (py[:, None, :].expand(height, width, half), px[None, :, :].expand(height, width, half)),
        dim=2,
    ).permute(2, 0, 1)
    return pos[None].expand(batch, -1, -1, -1).to(dtype)


class FusionEncoder(nn.Module):
    """Text projection, level projections and N Grounding DINO encoder (fusion) layers.

    Parameters
    ----------
    config : XeMapConfig
    text_hidden_size : int
        Width of the text encoder's features.
    image_channels : list of int
        Channels of the image encoder's maps (``len == len(config.swin_out_stages)``).

    Examples
    --------
    >>> cfg = XeMapConfig.tiny()
    >>> fusion = FusionEncoder(cfg, text_hidden_size=32, image_channels=[32, 64, 128]).eval()
    >>> feats = [torch.randn(2, c, s, s) for c, s in [(32, 8), (64, 4), (128, 2)]]
    >>> levels, text = fusion(feats, torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.long))
    >>> [tuple(m.shape) for m in levels], tuple(text.shape)
    ([(2, 32, 8, 8), (2, 32, 4, 4), (2, 32, 2, 2), (2, 32, 1, 1)], (2, 5, 32))
    """

    def __init__(
        self, config: XeMapConfig, *, text_hidden_size: int, image_channels: list[int]
    ) -> None:
        super().__init__()
        from transformers.models.grounding_dino.modeling_grounding_dino import (
            GroundingDinoEncoderLayer,
        )

        if len(image_channels) + config.num_extra_levels != config.num_levels:
            raise ValueError(
                f"level layout {config.level_layout!r} needs {len(config.swin_out_stages)} image "
                f"maps, got channels {image_channels}"
            )
        d = config.d_model
        self.d_model = d
        self.num_levels = config.num_levels
        self.num_backbone_levels = len(image_channels)
        self.temperature = 20.0
        gd = build_gdino_config(config)
        self.text_projection = nn.Linear(text_hidden_size, d)
        proj = [
            nn.Sequential(nn.Conv2d(c, d, kernel_size=1), nn.GroupNorm(config.norm_groups, d))
            for c in image_channels
        ]
        in_ch = image_channels[-1]
        for _ in range(config.num_extra_levels):
            proj.append(
                nn.Sequential(
                    nn.Conv2d(in_ch, d, kernel_size=3, stride=2, padding=1),
                    nn.GroupNorm(config.norm_groups, d),
                )
            )
            in_ch = d
        self.input_proj_vision = nn.ModuleList(proj)
        self.level_embed = nn.Parameter(torch.empty(config.num_levels, d))
        self.layers = nn.ModuleList(
            [GroundingDinoEncoderLayer(gd) for _ in range(config.num_fusion_layers)]
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialise as Grounding DINO does (deformable offsets on a circle, layer scale 1e-4)."""
        from transformers.models.grounding_dino.modeling_grounding_dino import (
            GroundingDinoBiMultiHeadAttention,
            GroundingDinoFusionLayer,
            GroundingDinoMultiscaleDeformableAttention,
        )

        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm | nn.GroupNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, GroundingDinoMultiscaleDeformableAttention):
                nn.init.zeros_(m.sampling_offsets.weight)
                thetas = torch.arange(m.n_heads, dtype=torch.float32) * (2.0 * math.pi / m.n_heads)
                grid = torch.stack([thetas.cos(), thetas.sin()], -1)
                grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(m.n_heads, 1, 1, 2)
                grid = grid.repeat(1, m.n_levels, m.n_points, 1)
                for i in range(m.n_points):
                    grid[:, :, i, :] *= i + 1
                m.sampling_offsets.bias.copy_(grid.view(-1))
                nn.init.zeros_(m.attention_weights.weight)
                nn.init.zeros_(m.attention_weights.bias)
                for lin in (m.value_proj, m.output_proj):
                    nn.init.xavier_uniform_(lin.weight)
                    nn.init.zeros_(lin.bias)
            elif isinstance(m, GroundingDinoBiMultiHeadAttention):
                for lin in (
                    m.vision_proj,
                    m.text_proj,
                    m.values_vision_proj,
                    m.values_text_proj,
                    m.out_vision_proj,
                    m.out_text_proj,
                ):
                    nn.init.xavier_uniform_(lin.weight)
                    nn.init.zeros_(lin.bias)
            elif isinstance(m, GroundingDinoFusionLayer):
                nn.init.constant_(m.vision_param, 1e-4)
                nn.init.constant_(m.text_param, 1e-4)
        for seq in self.input_proj_vision:
            nn.init.xavier_uniform_(seq[0].weight, gain=1)
            nn.init.zeros_(seq[0].bias)
        nn.init.xavier_uniform_(self.text_projection.weight)
        nn.init.zeros_(self.text_projection.bias)
        nn.init.normal_(self.level_embed)

    def text_side_parameters(self) -> list[nn.Parameter]:
        """The parameters that only the text tokens go through: the text projection, each
        layer's text-enhancer layer and the bi-attention's text gate (``text_param``).

        Examples
        --------
        >>> fusion = FusionEncoder(XeMapConfig.tiny(), text_hidden_size=32,
        ...                        image_channels=[32, 64, 128])
        >>> len(fusion.text_side_parameters())  # projection 2, text-enhancer layer 16, gate 1
        19
        """
        params = list(self.text_projection.parameters())
        for layer in self.layers:
            params += list(layer.text_enhancer_layer.parameters())
            params.append(layer.fusion_layer.text_param)
        return params

    def project_levels(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The ``num_levels`` maps ``(B, d_model, h_l, w_l)`` from the image encoder's maps."""
        n_backbone = self.num_backbone_levels
        if len(features) != n_backbone:
            raise ValueError(f"expected {n_backbone} image encoder maps, got {len(features)}")
        maps = [self.input_proj_vision[i](f) for i, f in enumerate(features)]
        for level in range(n_backbone, self.num_levels):
            source = features[-1] if level == n_backbone else maps[-1]
            maps.append(self.input_proj_vision[level](source))
        return maps

    def forward(
        self,
        image_features: list[torch.Tensor],
        text_features: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Fuse image maps and text tokens.

        Parameters
        ----------
        image_features : list of torch.Tensor
            The image encoder's maps ``(B, C_l, h_l, w_l)``.
        text_features : torch.Tensor
            The text encoder's tokens ``(B, S, C_text)``.
        attention_mask : torch.Tensor
            ``(B, S)``, 1 for real tokens, 0 for padding.

        Returns
        -------
        levels : list of torch.Tensor
            Fused image maps ``(B, d_model, h_l, w_l)``, one per level.
        text : torch.Tensor
            Fused text tokens ``(B, S, d_model)``.
        """
        from transformers.models.grounding_dino.modeling_grounding_dino import (
            GroundingDinoEncoder,
        )

        if text_features.dim() != 3 or attention_mask.shape != text_features.shape[:2]:
            raise ValueError(
                f"text_features (B, S, C) and attention_mask (B, S) disagree: "
                f"{tuple(text_features.shape)} vs {tuple(attention_mask.shape)}"
            )
        text = self.text_projection(text_features)
        maps = self.project_levels(image_features)
        batch = text.shape[0]
        device = text.device
        shapes = [(int(m.shape[-2]), int(m.shape[-1])) for m in maps]
        vision = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)
        pos_levels = []
        for level, (m, (h, w)) in enumerate(zip(maps, shapes, strict=True)):
            pe = sine_position_embedding(
                batch,
                h,
                w,
                self.d_model,
                temperature=self.temperature,
                device=device,
                dtype=m.dtype,
            )
            pos_levels.append(
                pe.flatten(2).transpose(1, 2) + self.level_embed[level].view(1, 1, -1)
            )
        pos = torch.cat(pos_levels, 1)
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=device)
        level_start_index = torch.cat(
            (spatial_shapes.new_zeros((1,)), spatial_shapes.prod(1).cumsum(0)[:-1])
        )
        valid_ratios = torch.ones(batch, self.num_levels, 2, dtype=torch.float32, device=device)
        reference_points = GroundingDinoEncoder.get_reference_points(shapes, valid_ratios, device)
        key_padding_mask = torch.zeros(vision.shape[:2], dtype=torch.bool, device=device)
        text_padding = ~attention_mask.bool()
        text_blocked = text_self_attention_mask(attention_mask)
        position_ids = torch.arange(text.shape[1], device=device).expand(batch, -1)
        for layer in self.layers:
            (vision, text), _ = layer(
                vision_features=vision,
                vision_position_embedding=pos,
                spatial_shapes=spatial_shapes,
                spatial_shapes_list=shapes,
                level_start_index=level_start_index,
                key_padding_mask=key_padding_mask,
                reference_points=reference_points,
                text_features=text,
                text_attention_mask=text_padding,
                text_position_embedding=None,
                text_self_attention_masks=text_blocked,
                text_position_ids=position_ids,
            )
        levels = []
        for chunk, (h, w) in zip(vision.split([h * w for h, w in shapes], 1), shapes, strict=True):
            levels.append(chunk.transpose(1, 2).reshape(batch, self.d_model, h, w))
        return levels, text
