"""The resolver, driven by the JSON case files in ``resolver_cases/`` (as resolvelib's own tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memos_client.errors import NotFoundError, ResolutionError
from memos_client.install.requirements import parse_requirement
from memos_client.install.resolver import Candidate, MemoryIndex, resolve
from mip.digests import digest_bytes
from mip.names import normalize_cube_name
from mip.versions import Version

CASES = sorted((Path(__file__).parent / "resolver_cases").glob("*.json"))


def _index(document: dict[str, list[dict[str, Any]]]) -> MemoryIndex:
    cubes = {}
    for name, versions in document.items():
        cubes[name] = [
            Candidate(
                name=normalize_cube_name(name),
                version=Version.parse(item["version"]),
                version_text=item["version"],
                manifest_digest=digest_bytes(f"{name}@{item['version']}".encode()),
                dependencies=item.get("dependencies", {}),
                yanked=item.get("yanked", False),
            )
            for item in versions
        ]
    return MemoryIndex(cubes)


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_case(path: Path) -> None:
    case = json.loads(path.read_text())
    requirements = [parse_requirement(text) for text in case["requested"]]
    preferred = {
        normalize_cube_name(name): Version.parse(version)
        for name, version in case.get("installed", {}).items()
    }
    index = _index(case["index"])
    if "error" in case:
        with pytest.raises(ResolutionError) as caught:
            resolve(requirements, index, preferred)
        assert str(caught.value) == case["error"]
    elif "not_found" in case:
        with pytest.raises(NotFoundError, match=case["not_found"]):
            resolve(requirements, index, preferred)
    else:
        result = resolve(requirements, index, preferred)
        assert {name: c.version_text for name, c in result.items()} == case["expected"]


def test_case_files_exist() -> None:
    assert len(CASES) >= 10


def test_a_hostile_index_cannot_make_the_resolver_spin() -> None:
    """N versions, each 1.0.i depending on its own cube <1.0.i (issue #15: 59 s at N=120,
    unbounded at N=250): the resolver gives up within its time bound, in one sentence."""
    import time

    count = 250
    index = _index(
        {
            "evil/loop": [
                {"version": f"1.0.{i}", "dependencies": {"evil/loop": f"<1.0.{i}"}}
                for i in range(count)
            ]
        }
    )
    started = time.monotonic()
    with pytest.raises(ResolutionError, match=r"^gave up resolving after 1 s: ") as caught:
        resolve([parse_requirement("evil/loop")], index, max_seconds=1.0)
    assert time.monotonic() - started < 10
    assert "\n" not in str(caught.value)
