"""Data records, Kaldi data dirs and file formats."""
