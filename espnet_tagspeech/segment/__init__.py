"""Reference-free segmentation: speech regions of a recording and the decoding windows made of them.

- :mod:`~espnet_tagspeech.segment.vad`: segmenters (Silero VAD, frame energy) behind
  :class:`~espnet_tagspeech.segment.vad.AbsSegmenter`.
- :mod:`~espnet_tagspeech.segment.windows`: speech regions -> windows no longer than a maximum.
- :mod:`~espnet_tagspeech.segment.recordings`: a Kaldi dir of recordings -> a decodable dir of windows.

Submodules import numpy only; torch and silero-vad are imported when a Silero segmenter runs.
"""
