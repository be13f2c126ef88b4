"""Keras networks: few-shot backbones (and, later, the Omniglot generators)."""
