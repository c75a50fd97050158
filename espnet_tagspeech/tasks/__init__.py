"""ESPnet tasks of the toolkit."""
