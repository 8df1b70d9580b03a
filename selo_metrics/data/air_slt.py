"""The AIR-SLT test-set annotations, bundled: ``{caption, jpg_name, points}`` per query."""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["load_air_slt", "scene_size"]


@cache
def _raw() -> str:
    return resources.files(__package__).joinpath("air_slt_anno.json").read_text("utf-8")


def load_air_slt() -> list[dict[str, Any]]:
    """The 59 AIR-SLT queries: ``caption``, ``jpg_name`` and ``points`` (a list of polygons).

    The scene images are not redistributable; the polygons and captions are (MIT licence,
    from the public SemanticLocalizationMetrics repository).

    Examples
    --------
    >>> anno = load_air_slt()
    >>> len(anno), anno[0]["jpg_name"], len(anno[0]["points"])
    (59, '0.jpg', 1)
    """
    return json.loads(_raw())


def scene_size(anno: list[dict[str, Any]], jpg_name: str, *, margin: float = 1.1,
               minimum: int = 1000) -> tuple[int, int]:
    """A plausible ``(H, W)`` for a scene: its polygons' extent times ``margin``.

    Used for synthetic maps, since the scene images themselves are not bundled.

    Examples
    --------
    >>> scene_size(load_air_slt(), "21.jpg")
    (7239, 8694)
    """
    xs, ys = [], []
    for item in anno:
        if item["jpg_name"] == jpg_name:
            for poly in item["points"]:
                xs.extend(p[0] for p in poly)
                ys.extend(p[1] for p in poly)
    if not xs:
        raise KeyError(f"no annotation for scene {jpg_name!r}")
    return (max(minimum, math.ceil(max(ys) * margin)), max(minimum, math.ceil(max(xs) * margin)))
