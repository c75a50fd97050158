"""Decoding: one home for turning a trained model's outputs into who spoke what and when."""
