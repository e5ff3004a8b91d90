"""Siamese similarity learning: twin CNN, pair losses, FAISS export and match evaluation."""
__version__ = "0.1.0"
