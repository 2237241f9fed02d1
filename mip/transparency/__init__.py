"""The transparency log of a MemStore registry (spec/MIP-1-registry.md §12): pure, no I/O.

One small module per specification, as ``packaging`` does:

- :mod:`~mip.transparency.merkle` -- RFC 9162 hashing and proof verification;
- :mod:`~mip.transparency.prover` -- where a log stores its hashes, and proofs built from them;
- :mod:`~mip.transparency.tiles` -- C2SP tlog-tiles paths, tiles, entry bundles, tile checks;
- :mod:`~mip.transparency.note` -- C2SP signed-note (Ed25519 signatures, verifier keys);
- :mod:`~mip.transparency.checkpoint` -- C2SP tlog-checkpoint bodies;
- :mod:`~mip.transparency.cosignature` -- C2SP tlog-cosignature (witnesses, Ed25519);
- :mod:`~mip.transparency.entries` -- the canonical bytes of one log entry (§12.2);
- :mod:`~mip.transparency.proof_bundle` -- C2SP tlog-proof, an offline-verifiable proof;
- :mod:`~mip.transparency.client` -- the checks a client runs before it trusts a version.

Nothing here opens a file or a socket: the registry and the client feed bytes in.
"""
