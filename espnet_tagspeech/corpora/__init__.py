"""Readers for real meeting corpora (AMI, AliMeeting) and their data preparation.

Each corpus module turns the corpus's own on-disk annotation format into
:class:`espnet_tagspeech.data.turn.Turn` records; :mod:`.datadir` writes those
as a Kaldi data dir with the scoring files the recipes need.
"""
