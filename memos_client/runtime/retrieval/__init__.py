"""Retrieval: lexical (BM25/FTS5) and semantic (vector) indexes under symbolic filters, fused."""
