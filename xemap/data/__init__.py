"""XeMap data: MCMG targets, manifests and datasets, the synthetic referring task."""
