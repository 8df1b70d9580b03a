"""The registry of referring-model families: build any of them by name.

Families are registered by the import path of their model class, so listing them imports
nothing heavy, and a family's module is imported only when one of its models is built.

Examples
--------
>>> "xemap" in list_models()
True
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["create_model", "get_model_class", "list_models", "load_pretrained", "register_model"]

#: family name -> "module:ClassName" of its `ReferringModel` subclass (or the class itself)
_FAMILIES: dict[str, Any] = {
    "xemap": "xemap.models.xemap_network.network:XeMapNetwork",
    "crobim": "xemap.models.crobim.model:CroBIM",
    "s4eca": "xemap.models.s4eca.model:S4ECA",
}


def register_model(name: str, target: str | type) -> None:
    """Register a family: ``target`` is ``"package.module:ClassName"`` or the class.

    A class is registered as is (e.g. a family defined in a test or a notebook); an import
    path is imported only when a model of the family is built.

    Examples
    --------
    >>> register_model("xemap", "xemap.models.xemap_network.network:XeMapNetwork")
    """
    if isinstance(target, type):
        if not isinstance(name, str) or not name:
            raise ValueError(f"register_model needs a name, got {name!r}")
        _FAMILIES[name] = target
        return
    if not isinstance(name, str) or not name or ":" not in str(target):
        raise ValueError(
            f"register_model needs a name and 'module:Class', got {name!r}, {target!r}"
        )
    _FAMILIES[name] = str(target)


def list_models() -> list[str]:
    """The registered family names, sorted."""
    return sorted(_FAMILIES)


def get_model_class(name: str) -> type:
    """The model class of family ``name`` (imports its module)."""
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {list_models()}")
    target = _FAMILIES[name]
    if isinstance(target, type):
        return target
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def _build_config(cls: type, config: Any, overrides: dict[str, Any]) -> Any:
    config_class = cls.config_class
    if config is None or config == "default":
        cfg = config_class()
    elif isinstance(config, str):
        preset = getattr(config_class, config, None)
        try:  # a preset is a classmethod that needs no argument and returns a config
            cfg = None if config.startswith("_") or not callable(preset) else preset()
        except TypeError:
            cfg = None
        if not isinstance(cfg, config_class):
            raise ValueError(f"{cls.family}: unknown config preset {config!r}")
    elif isinstance(config, dict):
        cfg = config_class.from_dict(config)
    elif isinstance(config, config_class):
        cfg = config
    else:
        raise ValueError(
            f"{cls.family}: config must be None, a preset name, a dict or a "
            f"{config_class.__name__}, got {type(config).__name__}"
        )
    return cfg.replace(**overrides) if overrides else cfg.replace()


def create_model(name: str, config: Any = None, **overrides: Any) -> Any:
    """Build a model of family ``name``.

    Parameters
    ----------
    name : str
        A family of `list_models`.
    config : None, str, dict or the family's config
        None (the paper's configuration), a preset name (``"tiny"``, ...), a dict of config
        fields, or a config object.
    **overrides
        Config fields to change (e.g. ``image_size=96``).

    Returns
    -------
    xemap.models.base.ReferringModel

    Examples
    --------
    >>> model = create_model("xemap", "tiny", image_size=96)
    >>> model.family, model.config.image_size
    ('xemap', 96)
    """
    cls = get_model_class(name)
    return cls(_build_config(cls, config, overrides))


def load_pretrained(directory: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Load a model saved by ``save_pretrained``; its family is read from ``config.json``."""
    path = Path(directory)
    cfg = path / "config.json"
    if not cfg.is_file():
        raise ValueError(f"{path} is not a saved model (no config.json)")
    try:
        family = json.loads(cfg.read_text()).get("family", "xemap")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"{cfg} is not a model config: {exc}") from exc
    return get_model_class(family).from_pretrained(path, map_location=map_location)
