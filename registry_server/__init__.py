"""registry_server — the MemStore registry: publishes and resolves signed MemCube bundles."""

__version__ = "0.1.0"
