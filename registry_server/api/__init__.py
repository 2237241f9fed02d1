"""HTTP routes of the registry's JSON API (spec/MIP-1-registry.md)."""
