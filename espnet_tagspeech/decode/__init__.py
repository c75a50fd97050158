"""Decoding: one home for turning a trained model's outputs into who spoke what and when.

* :mod:`.speech2tags` — :class:`Speech2Tags` (per-cut batches, whole meetings,
  ``from_pretrained(zip)``) and :class:`TagResult`;
* :mod:`.config` — :class:`DecodeConfig`, every decoding setting declared once;
* :mod:`.answer_search`, :mod:`.speaker_block` — logits processors acting on
  the LLM's own answer (its text block; its speaker block);
* :mod:`.ctc` — the CTC head's side: prefix beam search, n-gram LM, alignment;
* :mod:`.meeting`, :mod:`.link`, :mod:`.voices`, :mod:`.clustering` — whole
  recordings: windows, linking of their speakers, voice prints, clustering;
* :mod:`.packed` — the packed model zip.

``from espnet_tagspeech.decode import Speech2Tags`` works; the heavy modules
load only when a name is first used.
"""

from typing import Any

_LAZY = {
    "Speech2Tags": "espnet_tagspeech.decode.speech2tags",
    "TagResult": "espnet_tagspeech.decode.speech2tags",
    "DecodeConfig": "espnet_tagspeech.decode.config",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
