"""Embedders (all-MiniLM-L6-v2 in NumPy, a hashing embedder) and the engines built on them on first use."""
