"""TagSpeech model parts: streams, projectors, time anchors, LLM wrapper, ESPnet model."""
