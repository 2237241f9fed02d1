"""mip — the Memory Interchange Protocol library (MIP v1).

Pure protocol code shared by the registry and the client: models, manifest encoding, digests,
DSSE signing and verification, the `.memcube` container, the plaintext record codec and
safetensors validation. No network, no globals, no imports from either side.
"""

#: The protocol version this library writes; the one place it is declared (MIP-1 §2).
MIP_VERSION = "1.0"
#: Readers refuse any other major version (MIP-1 §2).
MIP_MAJOR = 1

__all__ = ["MIP_MAJOR", "MIP_VERSION"]
