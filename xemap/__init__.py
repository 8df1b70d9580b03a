"""XeMap-Network, MCMG targets and the SeLo baselines for contextual referring maps.

``import xemap`` imports nothing heavy: torch and transformers are loaded by the submodules
that need them (``xemap.models``, ``xemap.train``, ``xemap.predict``, ``xemap.baselines.scorers``),
and ``xemap.baselines.selo`` (the SeLo tiling geometry) needs neither.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
