"""Cube names ``namespace/name`` and their normal form (MIP-1 §3.1).

A name is ASCII: letters, digits and ``-``, ``_``, ``.``, starting and ending with a letter or
digit. Two names are the same cube when their normal forms are equal: lower-case, every run of
``-``, ``_`` and ``.`` folded to a single ``-`` (the rule PEP 503 uses for Python packages).
Non-ASCII look-alikes never pass validation; :func:`confusable_skeleton` also folds the ASCII
look-alikes (``0``/``o``, ``1``/``l``/``i``, ``rn``/``m``, ``vv``/``w``) so a registry can refuse a
new name that only *looks* like an existing one.
"""

from __future__ import annotations

import re
from typing import NewType

from mip.errors import InvalidNameError
from mip.limits import MAX_CUBE_NAME_CHARS, MAX_NAMESPACE_CHARS

#: A validated ``namespace/name`` in its normal form.
CubeName = NewType("CubeName", str)

_SEGMENT_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_SEPARATORS_RE = re.compile(r"[-_.]+")
MAX_NAMESPACE_LENGTH = MAX_NAMESPACE_CHARS
MAX_NAME_LENGTH = MAX_CUBE_NAME_CHARS


def normalize_segment(segment: str) -> str:
    """The normal form of one segment: lower-case, separator runs folded to ``-``."""
    return _SEPARATORS_RE.sub("-", segment).lower()


def _check_segment(segment: str, what: str, max_length: int) -> None:
    if not segment:
        raise InvalidNameError(f"invalid {what}: it is empty")
    if not segment.isascii():
        raise InvalidNameError(
            f"invalid {what} {segment!r}: only ASCII letters, digits, '-', '_' and '.' are allowed"
        )
    if len(segment) > max_length:
        raise InvalidNameError(f"invalid {what} {segment!r}: longer than {max_length} characters")
    if not _SEGMENT_RE.fullmatch(segment):
        raise InvalidNameError(
            f"invalid {what} {segment!r}: use letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )


def validate_namespace(namespace: str) -> str:
    """Check a namespace and return its normal form."""
    _check_segment(namespace, "namespace", MAX_NAMESPACE_LENGTH)
    return normalize_segment(namespace)


def validate_cube_name(text: str) -> str:
    """Check ``namespace/name`` and return it as written, or raise :class:`InvalidNameError`."""
    if not isinstance(text, str) or text.count("/") != 1:
        raise InvalidNameError(f"invalid cube name {text!r}: expected 'namespace/name'")
    namespace, name = text.split("/")
    _check_segment(namespace, "namespace", MAX_NAMESPACE_LENGTH)
    _check_segment(name, "cube name", MAX_NAME_LENGTH)
    return text


def normalize_cube_name(text: str) -> CubeName:
    """Check ``namespace/name`` and return its normal form (the identity of the cube)."""
    validate_cube_name(text)
    namespace, name = text.split("/")
    return CubeName(f"{normalize_segment(namespace)}/{normalize_segment(name)}")


_LOOKALIKES = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("i", "l"), ("5", "s"))


def confusable_skeleton(name: str) -> str:
    """A key under which names that look alike collide (normal form, then ASCII look-alikes)."""
    # Separators go first: removing them afterwards could join 'r-n' into a fresh 'rn', and the
    # skeleton of a skeleton would then differ from it (the key must be idempotent).
    skeleton = "/".join(normalize_segment(part).replace("-", "") for part in name.split("/"))
    for source, target in _LOOKALIKES:
        skeleton = skeleton.replace(source, target)
    return skeleton
