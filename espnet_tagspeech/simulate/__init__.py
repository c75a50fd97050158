"""Offline synthetic meetings: espeak-ng voices, a sentence grammar, turn-taking.

The simulator gives the recipes real work with known answers on machines that
cannot download a corpus: distinct voices, pauses, overlapped speech and exact
word timings (each word is synthesized on its own, trimmed and placed at a
known sample offset, so its time span is exact by construction).
"""
