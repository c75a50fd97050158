"""espnet-tagspeech: who spoke what and when, with one end-to-end model (TagSpeech)."""

__version__ = "0.1.0"
