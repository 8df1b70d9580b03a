"""SeLo, SeLo v2 and CLIP-SeLo baselines: exact tiling geometry and pluggable scorers."""
