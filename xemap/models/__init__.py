"""XeMap-Network building blocks: encoders, fusion layers, HMSA head, the network.

One block a module (torch and transformers are imported by the submodules, not here):

* ``xemap.models.encoders``: ``TextEncoder`` (BERT), ``ImageEncoder`` (Swin), ``load_tokenizer``
* ``xemap.models.fusion``: ``FusionEncoder`` (Grounding DINO feature-enhancer layers)
* ``xemap.models.hmsa``: ``hmsa_map``, ``HMSAHead``
* ``xemap.models.network``: ``XeMapNetwork`` (its module docstring is the API contract)
* ``xemap.models.checkpoints``: Grounding DINO weight loading and key mapping
"""
