"""Trust: the local signing keys, the keys installs accept and namespace pins, and the signer decision."""
