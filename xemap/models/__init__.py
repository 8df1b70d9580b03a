"""XeMap-Network building blocks: encoders, fusion layers, HMSA head, the network."""
