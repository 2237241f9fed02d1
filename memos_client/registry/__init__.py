"""The registry's HTTP API as the client speaks it: configuration (which index, which token), documents, calls."""
