"""``memos pack`` refuses what an install would refuse (MIP-1 §9), naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

from memos_client.trust.keystore import generate_key
from mip.records import MAX_TEXT_CHARS
from tests.cli.test_bundle_cli import files_under, memos, write_cube_source


def test_pack_refuses_a_memory_install_would_refuse_with_its_file_and_line(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    generate_key(home=home)
    lines = [
        {"text": "fine"},
        {"text": "x" * (MAX_TEXT_CHARS + 1)},
        {"text": "tagged", "tags": [str(i) for i in range(300)]},
    ]
    root = write_cube_source(
        tmp_path / "cube",
        '[cube]\nname = "acme/big"\nversion = "0.1.0"\ndescription = "Big."\n'
        '[governance]\nsensitivity = "public"\n',
        "".join(json.dumps(x) + "\n" for x in lines),
    )
    out = tmp_path / "dist"
    out.mkdir()
    result = memos("pack", root, "-o", out / "big.memcube", home=home)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert (
        "error: invalid memories: notes.jsonl:2: 'text' is 100,001 characters, over the 100,000-character limit"
        in result.stderr
    )
    assert "; notes.jsonl:3: 300 tags, over the limit of 256" in result.stderr
    assert files_under(out) == set()
