"""Referring-model families behind one interface, built by name.

* ``xemap.models.registry``: `list_models`, `create_model`, `load_pretrained` (re-exported
  here; importing them loads no family);
* ``xemap.models.base``: `ReferringModel`, the interface every family implements;
* ``xemap.models.configuration``: `ReferringConfig`, the configs' shared JSON round trip;
* ``xemap.models.sources``: local weight and tokenizer directories (never a hub);
* ``xemap.models.xemap_network``: XeMap-Network, family ``"xemap"``.

>>> "xemap" in list_models()
True
"""

from xemap.models.registry import (
    create_model,
    get_model_class,
    list_models,
    load_pretrained,
    register_model,
)

__all__ = ["create_model", "get_model_class", "list_models", "load_pretrained", "register_model"]
