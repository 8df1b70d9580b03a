"""One model-agnostic engine for every referring-model family: train, predict, evaluate.

Nothing here knows a family: models come from the registry (`xemap.models.create_model`,
`xemap.models.load_pretrained`) and are used through `xemap.models.base.ReferringModel`.
This package imports nothing at import time; its modules:

* ``config``: `TrainConfig` (the JSON training config, the family named in it), `build_model`;
* ``loop``: `train` (AMP, torchrun / DDP, resume, validation log);
* ``checkpoints``: atomic checkpoint folders, the latest one, pruning, RNG state;
* ``distributed``: torchrun's environment, the process group, the DDP-wrapped loss;
* ``data``: the family's dataset (MCMG ``target`` or ``mask``), epoch order, device batches;
* ``text_cache``: a frozen text encoder's features cached per query;
* ``train_log``: ``train_log.jsonl``;
* ``predict``: `predict_maps`, `write_probmaps` (resize or tiles), `load_model` (inference
  only: it imports no training code);
* ``evaluate``: maps scored with ``selo_metrics`` (`score_maps`, `evaluate_model`,
  `metric_block`, `validate`);
* ``commands``: the ``xemap train`` and ``xemap predict`` command lines.
"""
