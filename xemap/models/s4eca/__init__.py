"""S4ECA (Li et al., arXiv 2606.30244) on the referring-model interface.

* ``config``: `S4ECAConfig` (paper / ``demo`` / ``tiny`` presets)
* ``adapters``: the textual adapter (language proxies) and the visual adapter (multi-scale
  dense extractor, language-guided scale and spatial selection)
* ``decoder``: the light decoder
* ``model``: `S4ECA` (registry name ``"s4eca"``)
"""
