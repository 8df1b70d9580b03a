"""Loading Grounding DINO weights (HF format, local directory) into an XeMap-Network.

A checkpoint saved by ``GroundingDinoForObjectDetection.save_pretrained`` (or
``GroundingDinoModel.save_pretrained``) is loaded with transformers, offline, so that its own
key conversions apply (transformers 5 stores Swin's ``attention.q_proj`` as
``attention.self.query`` and ``swin.embeddings`` as ``embeddings`` in the files); then the
modules' tensors initialise (module names of ``GroundingDinoForObjectDetection``, the leading
``model.`` dropped)

=======================================  =====================================
Grounding DINO key                       XeMap-Network key
=======================================  =====================================
``text_backbone.*``                      ``text_encoder.model.*``
``backbone.conv_encoder.model.*``        ``image_encoder.model.*``
``text_projection.*``                    ``fusion.text_projection.*``
``input_proj_vision.*``                  ``fusion.input_proj_vision.*``
``level_embed``                          ``fusion.level_embed``
``encoder.layers.N.*``                   ``fusion.layers.N.*``
=======================================  =====================================

The detection-only weights (decoder, query embeddings, two-stage heads, box and class heads)
are ignored. The original IDEA-Research ``.pth`` checkpoints use other names and are not read.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from xemap.models.sources import quiet_transformers, resolve_local_dir

__all__ = [
    "LoadReport",
    "load_grounding_dino",
    "load_grounding_dino_model",
    "map_grounding_dino_key",
    "read_state_dict",
]

_RULES = (
    ("text_backbone.", "text_encoder.model."),
    ("backbone.conv_encoder.model.", "image_encoder.model."),
    ("text_projection.", "fusion.text_projection."),
    ("input_proj_vision.", "fusion.input_proj_vision."),
    ("encoder.layers.", "fusion.layers."),
)


def map_grounding_dino_key(key: str) -> str | None:
    """The XeMap-Network key for a Grounding DINO key, or None for detection-only weights.

    Examples
    --------
    >>> map_grounding_dino_key("model.encoder.layers.3.fusion_layer.vision_param")
    'fusion.layers.3.fusion_layer.vision_param'
    >>> map_grounding_dino_key("model.level_embed")
    'fusion.level_embed'
    >>> map_grounding_dino_key("model.decoder.layers.0.fc1.weight") is None
    True
    """
    if key.startswith("model."):
        key = key[len("model.") :]
    if key == "level_embed":
        return "fusion.level_embed"
    for old, new in _RULES:
        if key.startswith(old):
            return new + key[len(old) :]
    return None


@dataclass
class LoadReport:
    """What a checkpoint load did.

    Attributes
    ----------
    loaded : list of str
        XeMap keys copied from the checkpoint.
    missing : list of str
        XeMap keys of the encoders and fusion layers the checkpoint did not provide.
    unexpected : list of str
        Mapped checkpoint keys with no XeMap counterpart (e.g. encoder layers beyond
        ``num_fusion_layers``).
    mismatched : list of str
        Keys present on both sides with different shapes (left untouched).
    ignored : list of str
        Detection-only checkpoint keys.
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line per category with counts and the first few keys."""
        lines = []
        for name in ("loaded", "missing", "unexpected", "mismatched", "ignored"):
            keys = getattr(self, name)
            head = ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
            lines.append(
                f"{name}: {len(keys)}" + (f" ({head})" if keys and name != "loaded" else "")
            )
        return "\n".join(lines)


def read_state_dict(directory: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the raw weights of a local HF checkpoint directory (safetensors, sharded or not).

    The keys are the checkpoint's own (transformers may rename some when it loads a model,
    e.g. Swin's ``attention.self.query`` is ``attention.q_proj`` in transformers 5).

    Raises
    ------
    ValueError
        If the directory holds no ``model.safetensors``, sharded index or
        ``pytorch_model.bin``.
    """
    from safetensors.torch import load_file

    path = resolve_local_dir(str(directory), what="checkpoint")
    single = path / "model.safetensors"
    if single.is_file():
        return load_file(str(single))
    index = path / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(path / shard)))
        return state
    binary = path / "pytorch_model.bin"
    if binary.is_file():
        return torch.load(str(binary), map_location="cpu", weights_only=True)
    raise ValueError(
        f"{path} holds no model.safetensors, model.safetensors.index.json or pytorch_model.bin"
    )


def load_grounding_dino_model(directory: str | os.PathLike):
    """Load a local HF Grounding DINO checkpoint with transformers (offline).

    transformers applies its own key conversions (e.g. the Swin renames of version 5), so the
    returned model's module names are the ones `map_grounding_dino_key` maps.

    Returns
    -------
    model : transformers.GroundingDinoForObjectDetection
    info : dict
        transformers' loading info (``missing_keys``, ``unexpected_keys``, ...).

    Raises
    ------
    ValueError
        If the directory is missing or holds no loadable Grounding DINO checkpoint.
    """
    from transformers import GroundingDinoForObjectDetection

    path = resolve_local_dir(str(directory), what="grounding_dino")
    if not (path / "config.json").is_file():
        raise ValueError(f"grounding_dino: {path} has no config.json")
    try:
        with quiet_transformers():
            model, info = GroundingDinoForObjectDetection.from_pretrained(
                str(path), local_files_only=True, output_loading_info=True
            )
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"grounding_dino: cannot load a checkpoint from {path}: {exc}") from exc
    return model, info


def load_grounding_dino(
    model: nn.Module, directory: str | os.PathLike, *, strict: bool = False
) -> LoadReport:
    """Copy a Grounding DINO checkpoint's encoders and fusion layers into ``model``.

    The checkpoint is loaded with transformers (`load_grounding_dino_model`), then every
    tensor whose module name `map_grounding_dino_key` maps is copied into ``model``.

    Parameters
    ----------
    model : XeMapNetwork
    directory : str or os.PathLike
        Local HF Grounding DINO directory (e.g. a saved ``grounding-dino-tiny``).
    strict : bool
        Raise if any encoder / fusion key is missing or mismatched.

    Returns
    -------
    LoadReport
        ``missing`` also lists the XeMap keys whose checkpoint tensors were absent from the
        files (transformers left them randomly initialised).

    Raises
    ------
    ValueError
        On a missing directory or, with ``strict``, an incomplete or mismatched load.
    """
    gdino, info = load_grounding_dino_model(directory)
    absent = {map_grounding_dino_key(k) for k in info.get("missing_keys", ())} - {None}
    source = gdino.state_dict()
    target = model.state_dict()
    report = LoadReport()
    mapped: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        new = map_grounding_dino_key(key)
        if new is None:
            report.ignored.append(key)
        elif new not in target:
            report.unexpected.append(key)
        elif tuple(target[new].shape) != tuple(value.shape):
            report.mismatched.append(
                f"{key} {tuple(value.shape)} -> {new} {tuple(target[new].shape)}"
            )
        elif new not in absent:
            mapped[new] = value
    with torch.no_grad():
        for key, value in mapped.items():
            target[key].copy_(value.to(target[key].dtype))
    report.loaded = sorted(mapped)
    covered = re.compile(r"^(text_encoder|image_encoder|fusion)\.")
    report.missing = sorted(k for k in target if covered.match(k) and k not in mapped)
    del gdino
    if strict and (report.missing or report.mismatched):
        raise ValueError(f"incomplete Grounding DINO load from {directory}:\n{report.summary()}")
    if report.missing or report.mismatched:
        warnings.warn(
            f"Grounding DINO load from {directory} is partial:\n{report.summary()}", stacklevel=2
        )
    return report
