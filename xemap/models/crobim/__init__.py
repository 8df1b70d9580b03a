"""CroBIM (Dong et al., arXiv 2410.08613) on the referring-model interface.

* ``config``: `CroBIMConfig` (paper / ``demo`` / ``tiny`` presets)
* ``capm``: context-aware prompt modulation
* ``lgfa``: language-guided feature aggregation and attention-deficit compensation
* ``mid``: the mutual-interaction decoder
* ``model``: `CroBIM` (registry name ``"crobim"``)
"""
