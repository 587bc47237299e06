"""Figures drawn from a model (matplotlib), kept out of the model packages."""
