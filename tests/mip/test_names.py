"""Cube names (MIP-1 §3.1): validation, the normal form, and confusable skeletons."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mip.errors import InvalidNameError
from mip.names import (
    confusable_skeleton,
    normalize_cube_name,
    normalize_segment,
    validate_cube_name,
    validate_namespace,
)
from tests.support import raises_exactly

segments = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True)
names = st.builds(lambda ns, n: f"{ns}/{n}", segments, segments)


def respell(name: str, data: st.DataObject) -> str:
    """The same cube written differently: case flipped, separators swapped (not at the ends)."""
    out = []
    for char in name:
        if char in "-_.":
            out.append(data.draw(st.sampled_from(["-", "_", ".", "-_", "._."])))
        else:
            out.append(char.swapcase() if data.draw(st.booleans()) else char)
    return "".join(out)


@given(names)
def test_normal_form_is_valid_and_idempotent(name: str) -> None:
    # MIP-1 §3.1: "The normal form of a name is each segment lower-cased with every run of `-`,
    # `_` and `.` replaced by a single `-`. Two names denote the same cube if and only if their
    # normal forms are equal."
    normal = normalize_cube_name(name)
    assert validate_cube_name(normal) == normal
    assert normalize_cube_name(normal) == normal
    assert normal == normal.lower()
    assert "_" not in normal
    assert "." not in normal
    assert "--" not in normal


@given(names, st.data())
def test_respelled_names_are_the_same_cube(name: str, data: st.DataObject) -> None:
    other = respell(name, data)
    assert normalize_cube_name(other) == normalize_cube_name(name)
    assert confusable_skeleton(other) == confusable_skeleton(name)


@given(st.text(max_size=40))
def test_skeleton_is_idempotent(text: str) -> None:
    # A registry compares skeletons of stored names with skeletons of new ones (MIP-1 §3.1), so
    # the skeleton must be a fixed point: separators go before the look-alike folds, or 'r-n'
    # would fold to 'rn' once and to 'm' the second time.
    skeleton = confusable_skeleton(text)
    assert confusable_skeleton(skeleton) == skeleton


@pytest.mark.parametrize(
    ("a", "b"),
    [("acme/paypal", "acme/paypa1"), ("acme/modern", "acme/modem"), ("acme/world", "acme/vvorld"),
     ("g00gle/x", "google/x"), ("acme/r-n", "acme/m"), ("acme/Mi-Lo", "acme/m1lo"), ("acme/sus", "acme/5us")],
)  # fmt: skip
def test_lookalikes_share_a_skeleton(a: str, b: str) -> None:
    assert normalize_cube_name(a) != normalize_cube_name(b)
    assert confusable_skeleton(a) == confusable_skeleton(b)


def test_different_names_keep_different_skeletons() -> None:
    assert confusable_skeleton("acme/facts") != confusable_skeleton("acme/fiction")


def test_segment_normal_form() -> None:
    assert normalize_segment("My__Cube.v2") == "my-cube-v2"
    assert validate_namespace("Acme_Labs") == "acme-labs"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("acme", "invalid cube name 'acme': expected 'namespace/name'"),
        ("a/b/c", "invalid cube name 'a/b/c': expected 'namespace/name'"),
        ("/facts", "invalid namespace: it is empty"),
        ("acme/", "invalid cube name: it is empty"),
        ("аcme/facts", "invalid namespace 'аcme': only ASCII letters, digits, '-', '_' and '.' are allowed"),
        ("acme/-facts", "invalid cube name '-facts': use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
        ("acme/facts.", "invalid cube name 'facts.': use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
        ("acme/fa cts", "invalid cube name 'fa cts': use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
        ("acme/..", "invalid cube name '..': use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
        ("a" * 65 + "/x", f"invalid namespace {'a' * 65!r}: longer than 64 characters"),
        ("acme/" + "x" * 101, f"invalid cube name {'x' * 101!r}: longer than 100 characters"),
    ],
    ids=["no-slash", "two-slashes", "empty-namespace", "empty-name", "cyrillic", "leading-dash", "trailing-dot", "space", "dotdot", "long-namespace", "long-name"],
)  # fmt: skip
def test_invalid_names(text: str, message: str) -> None:
    # MIP-1 §3.1: "Each segment MUST match `[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?` (ASCII only);
    # a namespace is at most 64 characters, a name at most 100."
    with raises_exactly(InvalidNameError, message):
        validate_cube_name(text)
