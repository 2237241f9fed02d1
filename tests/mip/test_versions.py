"""SemVer versions and specifiers (MIP-1 §3.2, §3.3), property-tested against the rules' text."""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mip.errors import InvalidSpecifierError, InvalidVersionError
from mip.versions import Version, parse_specifier, parse_version
from tests.support import raises_exactly

numbers = st.integers(min_value=0, max_value=4) | st.integers(min_value=0, max_value=10**12)
identifiers = st.sampled_from(["0", "1", "2", "10", "alpha", "beta", "rc", "a1", "1a", "-x", "RC"])
prereleases = st.lists(identifiers, max_size=3).map(tuple)
builds = st.lists(st.sampled_from(["001", "b", "sha-5"]), max_size=2).map(tuple)
versions = st.builds(Version, numbers, numbers, numbers, prereleases, builds)
releases = st.builds(Version, numbers, numbers, numbers)


def semver_compare(a: Version, b: Version) -> int:
    """semver.org §11, written from its text (an oracle independent of Version._key)."""
    # "Precedence MUST be calculated by separating the version into major, minor, patch and
    # pre-release identifiers in that order (Build metadata does not figure into precedence)."
    # "Major, minor, and patch versions are always compared numerically."
    for x, y in ((a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)):
        if x != y:
            return -1 if x < y else 1
    # "When major, minor, and patch are equal, a pre-release version has lower precedence than
    # a normal version."
    if not a.prerelease or not b.prerelease:
        return (not a.prerelease) - (not b.prerelease)
    for p, q in zip(a.prerelease, b.prerelease, strict=False):
        if p == q:
            continue
        # "Identifiers consisting of only digits are compared numerically."
        if p.isdigit() and q.isdigit():
            return -1 if int(p) < int(q) else 1
        # "Numeric identifiers always have lower precedence than non-numeric identifiers."
        if p.isdigit() != q.isdigit():
            return -1 if p.isdigit() else 1
        # "Identifiers with letters or hyphens are compared lexically in ASCII sort order."
        return -1 if p < q else 1
    # "A larger set of pre-release fields has a higher precedence than a smaller set, if all of
    # the preceding identifiers are equal."
    return (len(a.prerelease) > len(b.prerelease)) - (len(a.prerelease) < len(b.prerelease))


@given(versions, versions)
# MIP-1 §3.2: "Precedence is SemVer §11: build metadata is ignored; a pre-release sorts before its
# release; numeric identifiers compare numerically and sort before alphanumeric ones."
def test_ordering_follows_semver_section_11(a: Version, b: Version) -> None:
    expected = semver_compare(a, b)
    assert (a < b, a == b, a > b) == (expected < 0, expected == 0, expected > 0)


@given(versions, builds)
# Equal versions (here: differing only in build metadata, which precedence ignores) hash alike,
# so sets and dict keys treat them as one; random pairs above are almost never equal.
def test_equal_versions_hash_alike(a: Version, build: tuple[str, ...]) -> None:
    b = Version(a.major, a.minor, a.patch, a.prerelease, build)
    assert a == b
    assert hash(a) == hash(b)


def test_semver_spec_example_order() -> None:
    # The example chain of semver.org §11.
    chain = [
        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
        "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1",
    ]  # fmt: skip
    parsed = [parse_version(v) for v in chain]
    assert parsed == sorted(parsed, key=functools.cmp_to_key(semver_compare))
    assert all(a < b for a, b in itertools.pairwise(parsed))


@given(versions)
def test_parse_of_str_is_identity(version: Version) -> None:
    assert parse_version(str(version)) == version
    assert str(parse_version(str(version))) == str(version)


@pytest.mark.parametrize(
    "text",
    ["1", "1.2", "01.2.3", "1.02.3", "1.2.03", "1.2.3-01", "1.2.3-", "1.2.3+", "v1.2.3", " 1.2.3",
     "1.2.3-a..b", "1.٢.3", "١.2.3", "1.2.3-ß", "1.2.3\n", "9" * 130 + ".0.0"],
)  # fmt: skip
def test_invalid_versions(text: str) -> None:
    # MIP-1 §3.2: "Versions MUST be SemVer 2.0.0 strings [...], at most 128 characters."
    with pytest.raises(InvalidVersionError) as caught:
        parse_version(text)
    assert str(caught.value).startswith(f"invalid version {text!r}: expected SemVer")


def spec_version(v: Version) -> str:
    return f"{v.major}.{v.minor}.{v.patch}"


@given(releases, releases)
def test_comparison_clauses(version: Version, target: Version) -> None:
    t = spec_version(target)
    assert parse_specifier(f">={t}").contains(version) == (version >= target)
    assert parse_specifier(f"<={t}").contains(version) == (version <= target)
    assert parse_specifier(f">{t}").contains(version) == (version > target)
    assert parse_specifier(f"<{t}").contains(version) == (version < target)
    assert parse_specifier(f"=={t}").contains(version) == (version == target)
    assert parse_specifier(f"!={t}").contains(version) == (version != target)


@given(releases, releases)
def test_compatible_release_clause(version: Version, target: Version) -> None:
    # MIP-1 §3.3: "`~=X.Y` means `>=X.Y.0,<(X+1).0.0`; `~=X.Y.Z` means `>=X.Y.Z,<X.(Y+1).0`."
    two = parse_specifier(f"~={target.major}.{target.minor}")
    assert two.contains(version) == (
        Version(target.major, target.minor, 0) <= version < Version(target.major + 1, 0, 0)
    )
    three = parse_specifier(f"~={spec_version(target)}")
    assert three.contains(version) == (
        target <= version < Version(target.major, target.minor + 1, 0)
    )


@given(releases, st.integers(0, 5), st.integers(0, 5))
def test_partial_versions_fill_zeros(version: Version, major: int, minor: int) -> None:
    # MIP-1 §3.3: "A clause version MAY be partial (`2`, `1.2`); missing components are `0`."
    assert parse_specifier(f">={major}").contains(version) == (version >= Version(major, 0, 0))
    assert parse_specifier(f"=={major}.{minor}").contains(version) == (
        version == Version(major, minor, 0)
    )


@given(
    versions,
    st.lists(st.tuples(st.sampled_from([">=", "<", "!=", "<="]), releases), min_size=1, max_size=3),
)
def test_a_set_is_a_conjunction_and_prereleases_need_a_reason(
    version: Version, clauses: list[tuple[str, Version]]
) -> None:
    text = ",".join(f"{op}{spec_version(v)}" for op, v in clauses)
    specifier = parse_specifier(text)
    every = all(clause.contains(version) for clause in specifier.clauses)
    # MIP-1 §3.3: "A pre-release version MUST NOT satisfy a set unless one of its clauses names a
    # pre-release or the user asked for pre-releases."
    assert specifier.contains(version) == (every and not version.is_prerelease)
    assert specifier.contains(version, prereleases=True) == every
    assert str(parse_specifier(str(specifier))) == str(specifier)


@given(versions)
def test_a_clause_naming_a_prerelease_lets_prereleases_in(version: Version) -> None:
    assume(version.is_prerelease)
    named = parse_specifier(f">=0.0.0-0,!={spec_version(version)}-zzz")
    assert named.names_prerelease
    assert named.contains(version)
    assert not named.contains(version, prereleases=False)


def test_prerelease_examples() -> None:
    rc = parse_version("2.0.0-rc.1")
    assert not parse_specifier(">=1.0").contains(rc)
    assert parse_specifier(">=1.0").contains(rc, prereleases=True)
    assert parse_specifier(">=2.0.0-rc.0").contains(rc)
    assert not parse_specifier("~=1.2").contains(rc, prereleases=True)  # below 2.0.0-0
    assert parse_specifier("").contains(parse_version("9.9.9"))
    assert parse_specifier("*").clauses == ()
    assert not parse_specifier("*").contains(rc)


def test_build_metadata_is_ignored_by_clauses() -> None:
    assert parse_specifier("==1.2.3").contains(parse_version("1.2.3+linux.7"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.0", "invalid version specifier '1.0': clause '1.0' has no operator (use ==, !=, >=, <=, >, < or ~=)"),
        (">=1.0,", "invalid version specifier '>=1.0,': clause '' has no operator (use ==, !=, >=, <=, >, < or ~=)"),
        (">=x", "invalid version specifier '>=x': 'x' is not a version"),
        (">=1.٢", "invalid version specifier '>=1.٢': '1.٢' is not a version"),
        ("~=1", "invalid version specifier '~=1': '~=' needs at least MAJOR.MINOR"),
        ("=>1", "invalid version specifier '=>1': clause '=>1' has no operator (use ==, !=, >=, <=, >, < or ~=)"),
        (">=" + "1" * 1100, "invalid version specifier '>=" + "1" * 1100 + "'"),
    ],
    ids=["no-operator", "empty-clause", "not-a-version", "non-ascii-digit", "compatible-needs-minor", "reversed", "too-long"],
)  # fmt: skip
def test_invalid_specifiers(text: str, message: str) -> None:
    with raises_exactly(InvalidSpecifierError, message):
        parse_specifier(text)
