"""Every limit of MIP v1, in one place (MIP-1 §9).

Two kinds:

- :class:`Limits`: bounds a *reader* puts on untrusted input (sizes, counts). They are settings --
  every reader takes a ``Limits`` and the defaults are the spec's -- and they are checked before
  anything proportional to the input is built: a declared count or length is compared with the
  bytes actually present and with these bounds first.
- the ``MAX_*`` constants below: limits of the manifest and record schemas themselves, fixed by
  the protocol so that every implementation accepts the same documents.
"""

from __future__ import annotations

from typing import NamedTuple


class Limits(NamedTuple):
    """Upper bounds on untrusted input; every reader takes one (defaults are the spec's).

    A named tuple, not a msgspec struct (ADR 0012): :mod:`mip.archive` needs it, and ``memos
    publish`` and ``memos verify`` start reading the archive before msgspec is imported.
    """

    #: Bytes of a manifest (MIP-1 §5.1).
    max_manifest_bytes: int = 1 << 20
    #: Bytes of a DSSE envelope (MIP-1 §6.2).
    max_envelope_bytes: int = 2 << 20
    #: Parts in one manifest.
    max_parts: int = 1024
    #: Entries in one ``.memcube`` archive.
    max_entries: int = 4096
    #: Bytes of one blob.
    max_blob_bytes: int = 64 << 30
    #: Bytes of one msgpack record (MIP-1 §7.1).
    max_record_bytes: int = 8 << 20
    #: Records in one plaintext part.
    max_records: int = 10_000_000
    #: Elements of one msgpack array or map inside a record: msgpack readers allocate a
    #: declared length up front, so ``dd 7f ff ff ff`` would otherwise cost gigabytes.
    max_record_items: int = 65_536
    #: Bytes of one safetensors header (MIP-1 §7.4).
    max_safetensors_header_bytes: int = 16 << 20
    #: Tensors in one safetensors file.
    max_tensors: int = 262_144
    #: Dimensions of one tensor's shape.
    max_tensor_rank: int = 16
    #: Signatures in one envelope.
    max_signatures: int = 16


DEFAULT_LIMITS = Limits()

# Limits of the manifest schema itself (MIP-1 §3, §5, §7): fixed by the protocol, not reader
# settings, so every implementation accepts the same manifests.

#: Longest namespace and cube name segment, in characters (MIP-1 §3.1).
MAX_NAMESPACE_CHARS = 64
MAX_CUBE_NAME_CHARS = 100
#: Longest version string (MIP-1 §3.2).
MAX_VERSION_CHARS = 128
#: Longest manifest ``description``, in characters.
MAX_DESCRIPTION_CHARS = 10_000
#: Keywords of a manifest, and the longest keyword.
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 64
#: Authors of a manifest.
MAX_AUTHORS = 100
#: Longest part name (MIP-1 §7).
MAX_PART_NAME_CHARS = 128
#: Longest record ``id`` (MIP-1 §7.1).
MAX_RECORD_ID_CHARS = 256
#: Longest cube card README, in characters (Unicode code points, as JSON Schema counts them).
#: 64 Ki characters hold the longest model cards commonly published (a few thousand words with
#: tables) and keep a card, even at four UTF-8 bytes a character, well inside the 1 MiB manifest.
MAX_CARD_README_CHARS = 65_536
#: Longest homepage or repository URL of a card, in characters.
MAX_CARD_URL_CHARS = 2_000
