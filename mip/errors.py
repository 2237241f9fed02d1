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
    ├── BundleError                 code: invalid_bundle        (MIP-1 §8.2, one code per item:)
    │   ├── NotAZipError            code: bundle_not_zip         1 not a ZIP archive, truncated
    │   ├── EntryNameError          code: bundle_entry_name      2 a name not of the three forms
    │   ├── EntryTypeError          code: bundle_entry_type      3 a link, directory, encrypted entry
    │   ├── EntryCompressedError    code: bundle_entry_compressed 4 compressed, or sizes differ
    │   ├── DuplicateEntryError     code: bundle_duplicate_entry 5 one name twice
    │   ├── LayoutError             code: bundle_layout          6 headers disagree, overlaps, gaps
    │   ├── RequiredEntryError      code: bundle_required_entry  7 manifest/envelope missing or large
    │   ├── PayloadMismatchError    code: bundle_payload_mismatch 8 manifest.json is not the payload
    │   ├── BlobMissingError        code: bundle_blob_missing    9 a part's blob is absent
    │   ├── UndeclaredBlobError     code: bundle_blob_undeclared 9 a blob no part references
    │   ├── SizeMismatchError       code: size_mismatch         10
    │   └── DigestMismatchError     code: digest_mismatch       11
    └── TransparencyError           code: log_error            (the transparency log, MIP-1-registry §12)
        ├── MalformedNoteError      code: malformed_note       a signed note breaks C2SP signed-note
        ├── MalformedCheckpointError code: malformed_checkpoint a note body breaks C2SP tlog-checkpoint
        ├── InvalidVerifierKeyError code: invalid_log_key      a verifier key is not name+hash+base64
        ├── LogSignatureError       code: log_bad_signature    the pinned key's signature does not verify
        ├── LogKeyChangedError      code: log_key_changed      no signature by the pinned key (or origin)
        ├── CosignatureError        code: log_cosignature      too few witnesses cosigned the checkpoint
        ├── InvalidProofError       code: invalid_proof        a proof's inputs are malformed
        │   └── ProofLengthError    code: log_proof_length     a proof has the wrong number of hashes
        ├── LogRootMismatchError    code: log_root_mismatch    an inclusion proof leads to another root
        ├── LogForkError            code: log_fork             two tree heads with no consistency proof
        ├── TreeShrankError         code: log_tree_shrank      a newer checkpoint is smaller
        ├── TileMismatchError       code: log_tile_mismatch    a tile disagrees with the checkpoint
        ├── InvalidTilePathError    code: invalid_tile_path    not a C2SP tlog-tiles path
        ├── LogEntryError           code: invalid_log_entry    entry bytes are not a canonical entry
        └── LogEntryMismatchError   code: log_entry_mismatch   the logged entry is for something else
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


class NotAZipError(BundleError):
    """Not a ZIP archive, or truncated (MIP-1 §8.2 item 1)."""

    code = "bundle_not_zip"


class EntryNameError(BundleError):
    """An entry named otherwise than the three forms of §8.1 (item 2)."""

    code = "bundle_entry_name"


class EntryTypeError(BundleError):
    """A symbolic link, directory, other non-regular or encrypted entry (item 3)."""

    code = "bundle_entry_type"


class EntryCompressedError(BundleError):
    """A compressed entry, or one whose stored and declared sizes differ (item 4)."""

    code = "bundle_entry_compressed"


class DuplicateEntryError(BundleError):
    """Two entries with one name (item 5)."""

    code = "bundle_duplicate_entry"


class LayoutError(BundleError):
    """A local header that disagrees with the central directory, overlapping or out-of-file
    data, bytes outside the entries, a data descriptor, a CRC-32 mismatch (item 6)."""

    code = "bundle_layout"


class RequiredEntryError(BundleError):
    """``manifest.json`` or ``envelope.json`` missing or over its size limit (item 7)."""

    code = "bundle_required_entry"


class PayloadMismatchError(BundleError):
    """``manifest.json`` is not the payload the envelope signs (item 8)."""

    code = "bundle_payload_mismatch"


class BlobMissingError(BundleError):
    """A blob a part references is absent from the bundle (item 9)."""

    code = "bundle_blob_missing"


class UndeclaredBlobError(BundleError):
    """A blob entry no part references (item 9)."""

    code = "bundle_blob_undeclared"


class DigestMismatchError(BundleError):
    """Bytes do not hash to the digest that names them."""

    code = "digest_mismatch"


class SizeMismatchError(BundleError):
    """Bytes are not the size that was declared for them."""

    code = "size_mismatch"


class TransparencyError(MIPError):
    """The transparency log's data is malformed or does not prove what it must (registry §12)."""

    code = "log_error"


class MalformedNoteError(TransparencyError):
    """Bytes that are not a C2SP signed note (text, blank line, signature lines)."""

    code = "malformed_note"


class MalformedCheckpointError(TransparencyError):
    """A note body that is not a C2SP tlog-checkpoint (origin, tree size, root hash)."""

    code = "malformed_checkpoint"


class InvalidVerifierKeyError(TransparencyError):
    """A note verifier key that is not ``name+hex(key id)+base64(0x01 || Ed25519 key)``."""

    code = "invalid_log_key"


class LogSignatureError(TransparencyError):
    """A signature line of the pinned log key is present but does not verify: a forgery."""

    code = "log_bad_signature"


class LogKeyChangedError(TransparencyError):
    """The checkpoint carries no signature of the pinned log key, or names another log."""

    code = "log_key_changed"


class CosignatureError(TransparencyError):
    """Fewer trusted witnesses than required cosigned the checkpoint, or a cosignature is bad."""

    code = "log_cosignature"


class InvalidProofError(TransparencyError):
    """A proof whose inputs cannot be right: an index past the tree, a hash not 32 bytes."""

    code = "invalid_proof"


class ProofLengthError(InvalidProofError):
    """A proof with more or fewer hashes than RFC 9162 fixes for its index and sizes."""

    code = "log_proof_length"


class LogRootMismatchError(TransparencyError):
    """An inclusion proof (or a tile) leads to a root other than the checkpoint's."""

    code = "log_root_mismatch"


class LogForkError(TransparencyError):
    """Two tree heads of one log that no consistency proof joins: the log showed two histories."""

    code = "log_fork"


class TreeShrankError(TransparencyError):
    """A checkpoint smaller than one already seen: an append-only log never shrinks."""

    code = "log_tree_shrank"


class TileMismatchError(TransparencyError):
    """A tile (or entry bundle) whose hashes do not rebuild the checkpoint's root: it lies."""

    code = "log_tile_mismatch"


class InvalidTilePathError(TransparencyError):
    """A path that is not a C2SP tlog-tiles tile or entry-bundle path."""

    code = "invalid_tile_path"


class LogEntryError(TransparencyError):
    """Bytes that are not a canonical log entry (MIP-1-registry §12.2)."""

    code = "invalid_log_entry"


class LogEntryMismatchError(TransparencyError):
    """A logged entry that records another event, cube, version or manifest than expected."""

    code = "log_entry_mismatch"
