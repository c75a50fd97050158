"""The semantic stream's CTC head in decoding: the cascade baseline's text block
(:mod:`.search`: prefix beam search with the :mod:`.ngram` LM; :mod:`.alignment`:
lines and word times from the Viterbi path) and the word bonus of the LLM's answer."""
