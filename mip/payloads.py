"""Payload validation of one part's blob (MIP-1 §7): the one check a client and a registry share.

A ``.memcube`` reader (``memos verify``), the installer (blobs fetched from a registry) and the
registry at publish all call :func:`check_part_payload`, so what one refuses the others refuse
with the same error: a registry never stores a version no client can use. The blob's digest is
checked elsewhere (§4); this checks its *format* against its part:

- ``plaintext``: whole msgpack records (§7.1), as many as the part's ``count``;
- ``activation``: the safetensors header (§7.4), the tensors against the part (§7.2), the
  ``token_ids`` tensor against ``token_ids_sha256``, the file's own ``__metadata__``;
- ``parameter``: the safetensors header, the LoRA tensors against ``adapter_config.r`` (§7.3),
  the file's own ``__metadata__``;
- a kind this version does not know: nothing (§2).

Only what is needed is read: every record of a plaintext part, but of a tensor part only the
header and the ``token_ids`` bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from mip.errors import MIPError, RecordError
from mip.limits import DEFAULT_LIMITS, Limits
from mip.models import ActivationPart, ParameterPart, Part, PlaintextPart
from mip.records import iter_records
from mip.tensors import (
    check_activation,
    check_parameter,
    check_self_description,
    check_token_ids,
    read_header,
    token_ids_range,
)


def check_part_payload(part: Part, blob: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check that ``blob`` (a seekable stream over the part's bytes, from 0) fits ``part``.

    Raises a :class:`MIPError` (``invalid_records``, ``invalid_tensor``) whose message starts
    with the part's name. The blob is assumed to hold ``part.size`` bytes (§4 checks it).
    """
    if isinstance(part, PlaintextPart):
        with _naming_part(part.name):
            count = sum(1 for _ in iter_records(blob, limits))
        if count != part.count:
            raise RecordError(
                f"part {part.name!r} declares {part.count} records, its blob holds {count}"
            )
    elif isinstance(part, ActivationPart):
        with _naming_part(part.name):
            header = read_header(blob, part.size, limits)
        # The checks against the part name it themselves.
        check_activation(header, part)
        start, length = token_ids_range(header)
        blob.seek(start)
        check_token_ids(blob.read(length), part)
        check_self_description(header, part, required=False)
    elif isinstance(part, ParameterPart):
        with _naming_part(part.name):
            header = read_header(blob, part.size, limits)
        check_parameter(header, part)
        check_self_description(header, part, required=False)


@contextmanager
def _naming_part(name: str) -> Iterator[None]:
    """Prefix a payload-format error with the part it was found in."""
    try:
        yield
    except MIPError as exc:
        raise type(exc)(f"part {name!r}: {exc}") from exc
