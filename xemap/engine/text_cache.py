"""Memoise a frozen text encoder's features per query: a training speed-up for any family.

A family that exposes its text encoder as ``model.text_encoder`` (an ``nn.Module`` called
with ``(input_ids, attention_mask[, token_type_ids])``) gets it cached when that encoder is
frozen: `TextFeatureCache` replaces the module's ``forward`` by an instance attribute (the
module tree and the saved weights are untouched; `TextFeatureCache.remove` restores it).

Each query's features are computed once, alone and unpadded (so they do not depend on which
other queries share its batch, and a resumed run sees the numbers an uninterrupted one saw),
stored for its real tokens only, and re-padded with zeros: the family must mask padding
positions downstream (XeMap-Network does; its tests check the map is unchanged). Outputs may
be a tensor or a tuple / list of tensors; a tensor whose second dimension is the sequence is
cut and re-padded, any other is stored per query as is.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["TextFeatureCache", "install_text_cache"]


def _split(out: Any, n: int) -> tuple[Any, Any]:
    """One query's output (batch of 1, ``n`` tokens) -> (stored value, layout).

    The layout is True for a per-token tensor (second dimension ``n``), False for another
    tensor, and a tuple of layouts for a tuple / list of tensors.
    """
    if isinstance(out, torch.Tensor):
        seq = out.dim() >= 2 and out.shape[1] == n
        return (out[0, :n] if seq else out[0]).detach(), seq
    if isinstance(out, tuple | list) and all(isinstance(o, torch.Tensor) for o in out):
        parts = [_split(o, n) for o in out]
        return tuple(v for v, _ in parts), tuple(k for _, k in parts)
    raise TypeError(type(out).__name__)


def _join(rows: list[Any], layout: Any, seq: int) -> Any:
    """Stack stored values of a batch, zero-padding per-token ones to ``seq`` tokens."""
    if isinstance(layout, tuple):
        return tuple(_join([r[k] for r in rows], sub, seq) for k, sub in enumerate(layout))
    if not layout:
        return torch.stack(rows)
    out = rows[0].new_zeros((len(rows), seq, *rows[0].shape[1:]))
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out


class TextFeatureCache:
    """Cache ``encoder``'s per-query features (see the module docstring).

    Passes through (computes) whenever the encoder is in training mode or any of its
    parameters requires grad. At most ``max_entries`` queries are stored.

    Examples
    --------
    >>> from xemap.models import create_model
    >>> model = create_model("xemap", "tiny").eval()
    >>> cache = TextFeatureCache(model.text_encoder)
    >>> b = model.tokenize(["a pond", "a pond"])
    >>> _ = model.text_encoder(b["input_ids"], b["attention_mask"])
    >>> cache.misses, cache.hits
    (1, 1)
    >>> cache.remove()
    """

    def __init__(self, encoder: nn.Module, max_entries: int = 50_000) -> None:
        self.encoder = encoder
        self.max_entries = max_entries
        self.cache: dict[bytes, Any] = {}
        self.hits = 0
        self.misses = 0
        self._orig = encoder.forward
        encoder.forward = self  # type: ignore[method-assign]

    def remove(self) -> None:
        """Restore the encoder's own forward and drop the cache."""
        if self.encoder.__dict__.get("forward") is self:
            del self.encoder.forward
        self.cache.clear()

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: Any = None
    ) -> Any:
        enc = self.encoder
        if enc.training or any(p.requires_grad for p in enc.parameters()):
            return self._orig(input_ids, attention_mask, token_type_ids)
        seq = int(input_ids.shape[1])
        lengths = [int(n) for n in attention_mask.sum(1).tolist()]
        rows, layout = [], None
        with torch.no_grad():
            for i, n in enumerate(lengths):
                tt = None if token_type_ids is None else token_type_ids[i : i + 1, :n]
                key = input_ids[i, :n].cpu().numpy().tobytes() + (
                    b"" if tt is None else b"|" + tt.cpu().numpy().tobytes()
                )
                entry = self.cache.get(key)
                if entry is None:
                    self.misses += 1
                    out = self._orig(input_ids[i : i + 1, :n], attention_mask[i : i + 1, :n], tt)
                    try:
                        entry = _split(out, n)
                    except TypeError as exc:
                        raise ValueError(
                            f"text cache: {type(enc).__name__} returns {exc}, not tensors; "
                            "set cache_text to false"
                        ) from None
                    # inference tensors (inference_mode) must not reach a training graph
                    if len(self.cache) < self.max_entries and not torch.is_inference_mode_enabled():
                        self.cache[key] = entry
                else:
                    self.hits += 1
                rows.append(entry[0])
                layout = entry[1]
        return _join(rows, layout, seq)


def install_text_cache(model: nn.Module) -> TextFeatureCache | None:
    """A `TextFeatureCache` on ``model.text_encoder`` if the model has one and it is frozen."""
    enc = getattr(model, "text_encoder", None)
    if not isinstance(enc, nn.Module) or any(p.requires_grad for p in enc.parameters()):
        return None
    return TextFeatureCache(enc)
