"""Errors raised by the protocol library.

Every error is a ``ValueError`` (bad data, never a bug) and carries a stable ``code`` that the
registry returns to clients and the CLI maps to a message::

    MIPError (ValueError)
    ├── InvalidNameError            code: invalid_name
    ├── InvalidVersionError         code: invalid_version
    ├── InvalidSpecifierError       code: invalid_specifier
    ├── InvalidDigestError          code: invalid_digest
    ├── InvalidKeyError             code: invalid_key
    ├── ManifestError               code: invalid_manifest
    │   └── UnsupportedVersionError code: unsupported_mip_version
    ├── EnvelopeError               code: invalid_envelope
    │   └── SignatureError          code: bad_signature
    ├── RecordError                 code: invalid_records
    ├── TensorError                 code: invalid_tensor
    └── BundleError                 code: invalid_bundle
        ├── DigestMismatchError     code: digest_mismatch
        └── SizeMismatchError       code: size_mismatch
"""

from __future__ import annotations


class MIPError(ValueError):
    """Base of every protocol error: the input is not valid MIP."""

    code = "mip_error"


class InvalidNameError(MIPError):
    """A cube or namespace name breaks MIP-1 §3.1."""

    code = "invalid_name"


class InvalidVersionError(MIPError):
    """A version is not SemVer 2.0 (MIP-1 §3.2)."""

    code = "invalid_version"


class InvalidSpecifierError(MIPError):
    """A dependency version specifier breaks MIP-1 §3.3."""

    code = "invalid_specifier"


class InvalidDigestError(MIPError):
    """A digest is not ``sha256:`` followed by 64 lower-case hex digits (MIP-1 §4)."""

    code = "invalid_digest"


class InvalidKeyError(MIPError):
    """A signing or public key cannot be read as Ed25519 (MIP-1 §6)."""

    code = "invalid_key"


class ManifestError(MIPError):
    """The manifest is not valid JSON or breaks the schema (MIP-1 §5)."""

    code = "invalid_manifest"


class UnsupportedVersionError(ManifestError):
    """The manifest declares a MIP major version this library does not speak (MIP-1 §2)."""

    code = "unsupported_mip_version"


class EnvelopeError(MIPError):
    """The DSSE envelope is malformed (MIP-1 §6)."""

    code = "invalid_envelope"


class SignatureError(EnvelopeError):
    """No signature of the envelope verifies against a trusted key (MIP-1 §6.3)."""

    code = "bad_signature"


class RecordError(MIPError):
    """A plaintext memory blob is not a valid msgpack record stream (MIP-1 §7.1)."""

    code = "invalid_records"


class TensorError(MIPError):
    """A safetensors blob is malformed or disagrees with its part's metadata (MIP-1 §7.2)."""

    code = "invalid_tensor"


class BundleError(MIPError):
    """A ``.memcube`` container breaks MIP-1 §8."""

    code = "invalid_bundle"


class DigestMismatchError(BundleError):
    """Bytes do not hash to the digest that names them."""

    code = "digest_mismatch"


class SizeMismatchError(BundleError):
    """Bytes are not the size that was declared for them."""

    code = "size_mismatch"
