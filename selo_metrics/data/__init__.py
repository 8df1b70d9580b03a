"""Bundled data: the 59 AIR-SLT annotations (MIT, see ``AIR-SLT-LICENSE``) and a
deterministic synthetic map generator for demos, tests and benchmarks."""

from .air_slt import load_air_slt, scene_size
from .synthetic import SYNTHETIC_KINDS, synthetic_map

__all__ = ["SYNTHETIC_KINDS", "load_air_slt", "scene_size", "synthetic_map"]
