"""The local MemOS runtime: store, retrieval, scheduler, lifecycle, and model-level memory."""
