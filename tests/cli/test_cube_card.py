"""Cube cards (MIP-1 §5.4): ``README.md`` and the ``[cube]`` links become the manifest's card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memos_client.authoring.packer import pack
from memos_client.errors import SourceError
from memos_client.trust.keystore import generate_key
from mip.container import open_bundle
from mip.keys import SigningKey
from mip.limits import MAX_CARD_README_CHARS
from tests.cli.test_bundle_cli import EPOCH, files_under, memos, write_cube_source

README = "# Facts\n\nWhat this cube knows. <script>alert(1)</script>\n\n![logo](https://x.example/a.png)\n"


def write_source(root: Path, cube_extra: str = "", readme: str | bytes | None = README) -> Path:
    write_cube_source(
        root,
        f'[cube]\nname = "acme/facts"\nversion = "0.1.0"\n{cube_extra}',
        '{"text": "Paris is in France."}\n',
    )
    if isinstance(readme, str):
        (root / "README.md").write_text(readme, "utf-8")
    elif isinstance(readme, bytes):
        (root / "README.md").write_bytes(readme)
    return root


def test_pack_puts_the_readme_and_links_in_the_card(tmp_path: Path) -> None:
    home = tmp_path / "home"
    generate_key(home=home)
    links = 'homepage = "https://facts.example/"\nrepository = "https://git.example/acme/facts"\n'
    source = write_source(tmp_path / "cube", links)
    packed = memos("pack", source, "-o", tmp_path / "facts.memcube", home=home, env=EPOCH)
    assert packed.returncode == 0, packed.stderr
    inspected = memos("inspect", "--json", tmp_path / "facts.memcube", home=home)
    manifest = json.loads(inspected.stdout)["manifest"]
    assert manifest["card"] == {
        "readme": README,  # exactly as written: never cut, never rendered
        "homepage": "https://facts.example/",
        "repository": "https://git.example/acme/facts",
    }
    assert "homepage" not in manifest
    assert "repository" not in manifest
    # The README is the card, not a memory.
    assert [part["count"] for part in manifest["parts"]] == [1]
    assert memos("verify", tmp_path / "facts.memcube", home=home).returncode == 0


@pytest.mark.parametrize(
    ("cube_extra", "readme"),
    [("", None), ('homepage = "https://facts.example/"\n', None), ("", README)],
    ids=["nothing", "links-only", "readme-only"],
)
def test_the_card_holds_what_the_source_has(
    tmp_path: Path, cube_extra: str, readme: str | None
) -> None:
    source = write_source(tmp_path / "cube", cube_extra, readme)
    result = pack(source, tmp_path / "facts.memcube", [SigningKey.generate()])
    with open_bundle(result.path) as bundle:
        card = bundle.manifest.card
    if not cube_extra and readme is None:
        assert card is None
        return
    assert card is not None
    assert card.readme == (readme or "")
    assert card.homepage == ("https://facts.example/" if cube_extra else None)


def test_a_readme_of_exactly_the_limit_packs(tmp_path: Path) -> None:
    readme = "ü" * MAX_CARD_README_CHARS  # two UTF-8 bytes each: characters count, not bytes
    source = write_source(tmp_path / "cube", readme=readme)
    result = pack(source, tmp_path / "facts.memcube", [SigningKey.generate()])
    with open_bundle(result.path) as bundle:
        assert bundle.manifest.card is not None
        assert bundle.manifest.card.readme == readme


def _make_directory(root: Path) -> None:
    (root / "README.md").unlink()
    (root / "README.md").mkdir()


def _link_outside(root: Path) -> None:
    (root / "README.md").unlink()
    (root / "README.md").symlink_to("/etc/hostname")


@pytest.mark.parametrize(
    ("cube_extra", "change", "message"),
    [
        ("", lambda s: (s / "README.md").write_text("x" * (MAX_CARD_README_CHARS + 1)), f"{{s}}/README.md: {MAX_CARD_README_CHARS + 1:,} characters, over the {MAX_CARD_README_CHARS:,} a cube card holds (MIP-1 §5.4): shorten it or move the rest into memories/"),
        ("", lambda s: (s / "README.md").write_bytes(b"x" * (4 * MAX_CARD_README_CHARS + 1)), f"{{s}}/README.md: a cube card holds at most {MAX_CARD_README_CHARS:,} characters ({4 * MAX_CARD_README_CHARS + 1:,} bytes): shorten it"),
        ("", lambda s: (s / "README.md").write_bytes(b"# caf\xe9\n"), "{s}/README.md: not UTF-8 text (invalid continuation byte at byte 5)"),
        ("", _make_directory, "{s}/README.md: must be a file (the cube's card, in Markdown)"),
        ("", _link_outside, "{s}: README.md links outside the cube source: copy the file in instead"),
        ('homepage = "ftp://facts.example/"\n', None, "{s}/memcube.toml: [cube] homepage must be an http:// or https:// URL"),
        ('repository = "javascript:alert(1)"\n', None, "{s}/memcube.toml: [cube] repository must be an http:// or https:// URL"),
        ('homepage = "https://good.example@evil.example/"\n', None, "{s}/memcube.toml: [cube] homepage must not carry a user name or password"),
        ('homepage = "https://facts.example/ x"\n', None, "{s}/memcube.toml: [cube] homepage must not contain spaces, control characters or backslashes"),
        ("homepage = 7\n", None, "{s}/memcube.toml: [cube] homepage must be a string"),
    ],
    ids=["too-many-characters", "too-many-bytes", "not-utf8", "directory", "link-outside", "ftp", "javascript", "userinfo", "space", "not-a-string"],
)  # fmt: skip
def test_bad_cards_are_refused_before_anything_is_written(
    tmp_path: Path, cube_extra: str, change: Any, message: str
) -> None:
    source = write_source(tmp_path / "cube", cube_extra)
    if change is not None:
        change(source)
    out = tmp_path / "dist"
    out.mkdir()
    with pytest.raises(SourceError) as caught:
        pack(source, out / "facts.memcube", [SigningKey.generate()])
    assert str(caught.value) == message.format(s=source)
    assert files_under(out) == set()
