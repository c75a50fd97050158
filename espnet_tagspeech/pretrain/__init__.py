"""Stage-5 pre-training of a TagSpeech model's encoders (resumable).

:mod:`~espnet_tagspeech.pretrain.config` (the yaml), :mod:`~espnet_tagspeech.pretrain.data`
(cuts, targets, batches), :mod:`~espnet_tagspeech.pretrain.objectives` (one class per
objective), :mod:`~espnet_tagspeech.pretrain.trainer` (the loop, checkpoints, ``init.pth``).
"""
