"""Data loaders: Omniglot (official zips, folders or TFDS)."""
