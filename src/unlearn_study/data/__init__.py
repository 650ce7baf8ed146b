"""Data preparation: corpus sources, cleaning and splits, forget candidates and their
populations, halves, and the subword model."""
