"""Scoring: DER/JER as dscore computes them, meeteval word metrics, results tables, plots.

Modules: :mod:`.regions` (scoring regions, trimming, merging), :mod:`.der`,
:mod:`.jer`, :mod:`.diarization` (per-file and overall report),
:mod:`.mdeval` (independent md-eval-22 route), :mod:`.wer` (cpWER, ORC-WER,
tcpWER via meeteval), :mod:`.results` (RESULTS.md), :mod:`.plot` (timelines),
:mod:`.table`, :mod:`.io`, :mod:`.synthetic` (random test data).
"""
