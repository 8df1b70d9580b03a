"""Old home of `XeMapNetwork`; kept as a thin re-export of ``xemap.models.xemap_network``."""

from xemap.models.xemap_network.network import XeMapFeatures, XeMapNetwork

__all__ = ["XeMapFeatures", "XeMapNetwork"]
