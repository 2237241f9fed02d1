"""Bundle commands: keygen, init, pack, verify, inspect (MIP v1 bundles)."""

from __future__ import annotations
