"""Requirements, memos.toml, memos.lock and trust pins: parsing and every rejection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memos_client.errors import TrustError, UsageError
from memos_client.install.lockfile import LockedCube, Lockfile, read_lockfile
from memos_client.install.requirements import load_project_file, parse_requirement
from memos_client.trust.signers import check_signers
from memos_client.trust.store import NamespacePin, load_pins, save_pins
from mip.dsse import sign
from mip.keys import SigningKey


@pytest.mark.parametrize(
    ("text", "name", "pin", "shown"),
    [
        ("alice/cooking", "alice/cooking", None, "alice/cooking"),
        (
            "Alice/French_Cooking >= 1, <2",
            "alice/french-cooking",
            None,
            "alice/french-cooking>=1,<2",
        ),
        ("alice/cooking==1.2.0", "alice/cooking", "1.2.0", "alice/cooking==1.2.0"),
        ("alice/cooking@1.2.0", "alice/cooking", "1.2.0", "alice/cooking==1.2.0"),
    ],
)
def test_parse_requirement(text: str, name: str, pin: str | None, shown: str) -> None:
    requirement = parse_requirement(text)
    assert (requirement.name, requirement.exact_pin, requirement.text) == (name, pin, shown)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cooking", "expected NAMESPACE/NAME"),
        ("alice/cooking>>1", "is not a version"),
        ("alice/cooking~1", "no operator"),
        ("alice/cooking>=one", "is not a version"),
        ("a/b/c", "expected NAMESPACE/NAME"),
    ],
)
def test_bad_requirements(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_requirement(text)


def test_project_file_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "memos.toml"
    path.write_text('cubes = ["ok/one", "bad", "x/y>>2"]\nextra = 1\n')
    with pytest.raises(UsageError) as caught:
        load_project_file(path)
    message = str(caught.value)
    assert "unknown keys extra" in message
    assert "'bad'" in message
    assert "'x/y>>2'" in message
    path.write_text("cubes = [")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_project_file(path)
    with pytest.raises(UsageError, match="does not exist"):
        load_project_file(tmp_path / "missing.toml")


def test_lockfile_round_trip_and_rejections(tmp_path: Path) -> None:
    from mip.keys import SigningKey

    key = SigningKey.generate().public_key
    lock = Lockfile(
        "http://127.0.0.1:1",
        ["a/x>=1"],
        [LockedCube("a/x", "1.0.0", "sha256:" + "a" * 64, [key.key_id], {"a/y": ">=1"}, [])],
        {"a": {key.key_id: key.to_pem().decode()}, "b": {"k" * 64: None}},
    )
    path = tmp_path / "memos.lock"
    lock.write(path)
    again = read_lockfile(path)
    assert again.cubes[0].candidate().dependencies == {"a/y": ">=1"}
    assert again.trust == {"a": {key.key_id: key.to_pem().decode()}, "b": {"k" * 64: None}}
    assert again.trust_keys()["a"][key.key_id] == key
    path.write_text(path.read_text().replace("sha256:" + "a" * 64, "sha256:nope"))
    with pytest.raises(UsageError, match="invalid digest"):
        read_lockfile(path)
    path.write_text("version = 9\n")
    with pytest.raises(UsageError, match="lockfile version 9"):
        read_lockfile(path)


REQUESTED = 'requested = ["a/x>=1"]\n'
GOOD_CUBE = """
[[cube]]
name = "a/x"
version = "1.0.0"
manifest-digest = "sha256:{a}"
signers = ["{k}"]
blobs = [{{ part = "memories", digest = "sha256:{a}", size = 3 }}]
""".format(a="a" * 64, k="k" * 64)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # `memos sync` removes whatever the lock does not list: a misspelt table is not "empty".
        (REQUESTED + GOOD_CUBE.replace("[[cube]]", "[[cubes]]"), "unknown keys cubes"),
        ('cube = "a/x"\n', "'cube' must be an array of tables"),
        (
            GOOD_CUBE.replace('name = "a/x"', 'name = "a/x"\ncolour = 1'),
            "cube 0: unknown keys colour",
        ),
        (GOOD_CUBE.replace('version = "1.0.0"', "version = 1"), "must be strings"),
        (GOOD_CUBE.replace('signers = ["' + "k" * 64 + '"]', 'signers = "abc"'), "signers must be"),
        (GOOD_CUBE.replace("size = 3", 'size = "3"'), "size a count"),
        (GOOD_CUBE.replace("part = ", "kind = "), "exactly part, digest and size"),
        (REQUESTED, "requested 'a/x>=1' is not among the locked cubes"),
        ('requested = "a/x"\n', "'requested' must be a list"),
        ('[trust]\na = "k"\n' + GOOD_CUBE, "trust.a must be a table of key id = public key PEM"),
        ("trust = 3\n" + GOOD_CUBE, "'trust' must be a table of namespace"),
        ('[trust.a]\nk = "junk"\n' + GOOD_CUBE, "trust.a: key 'k' is not a public key"),
    ],
)
def test_a_malformed_lockfile_is_refused_whole(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "memos.lock"
    path.write_text('version = 1\nindex-url = "http://127.0.0.1:1"\n' + text)
    with pytest.raises(UsageError, match=re.escape(problem)) as caught:
        read_lockfile(path)
    assert "re-create it with `memos lock`" in str(caught.value)
    # The same lockfile, well formed, reads.
    path.write_text('version = 1\nindex-url = "http://127.0.0.1:1"\n' + REQUESTED + GOOD_CUBE)
    assert [cube.name for cube in read_lockfile(path).cubes] == ["a/x"]


def test_lockfile_write_replaces_only_an_older_lockfile(tmp_path: Path) -> None:
    lock = Lockfile("http://127.0.0.1:1", [], [], {})
    requirements = tmp_path / "memos.toml"
    requirements.write_text('cubes = ["a/x"]\n')
    with pytest.raises(UsageError, match="exists and is not a lockfile"):
        lock.write(requirements)
    assert requirements.read_text() == 'cubes = ["a/x"]\n'
    (tmp_path / "a-dir").mkdir()
    with pytest.raises(UsageError, match="exists and is not a regular file"):
        lock.write(tmp_path / "a-dir")
    with pytest.raises(UsageError, match="cannot write"):
        lock.write(tmp_path / "missing-dir" / "memos.lock")
    path = tmp_path / "memos.lock"
    path.write_text('version = 0\nindex-url = "http://old"\n')  # a format this memos cannot read
    lock.write(path)
    lock.write(path)  # an older lockfile is replaced
    assert read_lockfile(path).cubes == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-dir", "memos.lock", "memos.toml"]


def test_pins_round_trip_and_a_changed_key_is_refused(tmp_path: Path) -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    pin = NamespacePin(
        "alice", {first.public_key.key_id: first.public_key.to_pem().decode()}, "first-use"
    )
    save_pins({"alice": pin}, tmp_path)
    pins = load_pins(tmp_path)
    good = sign(b"{}", [first])
    assert check_signers(good, "alice/x 1.0.0", trusted={}, pins=pins).key_ids == (
        first.public_key.key_id,
    )
    bad = sign(b"{}", [second])
    with pytest.raises(TrustError, match="SIGNING KEY CHANGED for namespace 'alice'"):
        check_signers(
            bad, "alice/x 2.0.0", trusted={second.public_key.key_id: second.public_key}, pins=pins
        )
    with pytest.raises(TrustError, match="unsigned"):
        check_signers(sign(b"{}", []), "alice/x 3.0.0", trusted={}, pins=pins)
    assert (
        check_signers(
            sign(b"{}", []), "b/x 1.0.0", trusted={}, pins={}, allow_unsigned=True
        ).key_ids
        == ()
    )


def test_first_use_pins_the_registry_key() -> None:
    key = SigningKey.generate()
    listed = {key.public_key.key_id: key.public_key}
    check = check_signers(
        sign(b"{}", [key]), "bob/x 1.0.0", trusted={}, pins={}, registry_keys=lambda ns: listed
    )
    assert check.new_pin is not None
    assert check.new_pin.namespace == "bob"
    assert list(check.new_pin.keys) == [key.public_key.key_id]
    stranger = SigningKey.generate()
    with pytest.raises(TrustError, match="neither trusted nor a key the registry lists"):
        check_signers(
            sign(b"{}", [stranger]),
            "bob/x 1.0.0",
            trusted={},
            pins={},
            registry_keys=lambda ns: listed,
        )
