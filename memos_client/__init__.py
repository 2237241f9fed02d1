"""memos_client — the `memos` CLI and the local MemOS runtime."""

__version__ = "0.1.0"
