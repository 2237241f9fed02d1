"""Embedders: all-MiniLM-L6-v2 in NumPy and a hashing embedder."""
