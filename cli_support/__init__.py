"""Command-line helpers shared by ``memos`` and ``memos-registry`` (a leaf: imports nothing of ours)."""
