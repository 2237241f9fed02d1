"""`memos add --file/--dir/--messages` and `memos pack` of documents, end to end (real processes,
the real embedder where retrieval is checked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mip.container import open_bundle
from tests.ingest.conftest import make_pdf
from tests.ingest.test_chunking import long_markdown
from tests.support import run_memos

HASHING = {"MEMOS_EMBEDDER": "hashing"}


def memos(home: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    import os

    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return run_memos(home, *args, env=env)
    finally:
        os.chdir(previous)


def test_adding_a_changed_file_again_replaces_only_its_changed_chunks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = tmp_path / "docs"
    docs.mkdir()
    guide = docs / "guide.md"
    guide.write_text(long_markdown(30, seed=5))
    (docs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    first = memos(
        home, "add", "--dir", "docs", "--cube", "me/kb", "--json", cwd=tmp_path, env=HASHING
    )
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    (document,) = report["documents"]
    assert document["source"] == "docs/guide.md"
    assert document["added"] == document["chunks"] > 5
    assert report["skipped"] == ["docs/logo.png"]
    # A new last paragraph: one chunk added or changed at the end, the others untouched.
    guide.write_text(guide.read_text() + "\nA closing remark about retention.\n")
    second = memos(
        home,
        "add",
        "--file",
        "docs/guide.md",
        "--cube",
        "me/kb",
        "--json",
        cwd=tmp_path,
        env=HASHING,
    )
    assert second.returncode == 0, second.stderr
    (again,) = json.loads(second.stdout)["documents"]
    assert again["unchanged"] >= document["chunks"] - 2
    assert again["added"] + again["changed"] <= 2
    # Unchanged chunks kept their version 1; history shows the replaced one as deleted.
    history = json.loads(memos(home, "history", "me/kb", "--json", env=HASHING).stdout)
    ops = {(entry["op"], entry["state"]) for entry in history}
    assert ("add", "generated") in ops
    versions = [e for e in history if e["version"] > 1]
    assert len(versions) <= 3


def test_add_messages_from_a_file(tmp_path: Path) -> None:
    chat = tmp_path / "standup.json"
    chat.write_text(
        json.dumps(
            [
                {"role": "user", "name": "Ben", "content": "The release moves to Thursday."},
                {"role": "assistant", "content": "Noted: Thursday release."},
            ]
        )
    )
    result = memos(
        tmp_path / "home", "add", "--messages", str(chat), "--cube", "team/standup", env=HASHING
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("added 2 turns from 1 sessions to team/standup")
    found = memos(
        tmp_path / "home", "query", "release day", "--cube", "team/standup", "--json", env=HASHING
    )
    hits = json.loads(found.stdout)
    assert hits[0]["item"]["metadata"]["session"] == "standup"
    assert {hit["item"]["metadata"]["speaker"] for hit in hits} == {"Ben", "assistant"}


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (
            lambda d: make_pdf(d / "locked.pdf", ["x"], owner_password="o", user_password="u"),
            ["--file", "locked.pdf"],
            "error: locked.pdf: the PDF is encrypted with a password: decrypt it first (e.g. qpdf "
            "--password=... --decrypt in.pdf out.pdf)",
        ),
        (
            lambda d: make_pdf(d / "scan.pdf", [""], image_only=True),
            ["--file", "scan.pdf"],
            "error: scan.pdf: no extractable text in 1 page(s) (a scanned or image-only PDF): run "
            "OCR on it first (e.g. ocrmypdf) or add its text as a .txt file",
        ),
        (
            lambda d: (d / "bin.md").write_bytes(b"\x00\x01\x02"),
            ["--file", "bin.md"],
            "error: bin.md: a binary file, not text/markdown text: remove it or give it the right "
            "suffix",
        ),
        (
            lambda d: (d / "a.md").write_text("x"),
            ["--messages", "a.md"],
            "error: give one of TEXT, --file/--dir or --messages (see `memos add --help`)",
        ),
    ],
    ids=["encrypted-pdf", "image-pdf", "binary", "two-sources"],
)
def test_bad_documents_stop_with_one_error_line_and_add_nothing(
    tmp_path: Path, setup: object, args: list[str], message: str
) -> None:
    setup(tmp_path)  # type: ignore[operator]
    (tmp_path / "fine.md").write_text("# Fine\n\nA fine document.\n")
    result = memos(tmp_path / "home", "add", "--file", "fine.md", *args, cwd=tmp_path, env=HASHING)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    listed = memos(tmp_path / "home", "query", "fine document", env=HASHING)
    assert listed.stdout.strip() == "no memories found"


def make_source(root: Path, files: dict[str, bytes | str]) -> Path:
    (root / "memories").mkdir(parents=True)
    (root / "memcube.toml").write_text('[cube]\nname = "acme/docs"\nversion = "1.0.0"\n')
    for name, content in files.items():
        path = root / "memories" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return root


def test_pack_chunks_documents_and_never_truncates_one_over_the_limits(tmp_path: Path) -> None:
    big = long_markdown(500, seed=11)  # ~250k characters: over a memory's 100k limit
    assert len(big) > 200_000
    source = make_source(
        tmp_path / "src",
        {
            "book.md": big,
            "page.html": "<h1>Page</h1><p>An HTML page.</p>",
            "notes/plain.txt": "Plain text.\n\nTwo paragraphs.",
            "manual.pdf": make_pdf(
                tmp_path / "m.pdf", ["Manual page one.", "Page two."]
            ).read_bytes(),
            ".gitkeep": "",
        },
    )
    result = memos(
        tmp_path / "home", "pack", str(source), "-o", str(tmp_path / "docs.memcube"), "--unsigned"
    )
    assert result.returncode == 0, result.stderr
    with open_bundle(tmp_path / "docs.memcube") as bundle:
        (part,) = bundle.manifest.parts
        records = list(bundle.iter_records(part))  # type: ignore[arg-type]
    by_source: dict[str, list[dict[str, object]]] = {}
    for record in records:
        by_source.setdefault(record["metadata"]["source"], []).append(record)
    assert set(by_source) == {"book.md", "page.html", "notes/plain.txt", "manual.pdf"}
    book = by_source["book.md"]
    assert "".join("".join(r["text"].split()) for r in book) == "".join(big.split())  # type: ignore[union-attr]
    assert {r["metadata"]["chunk"]["page"] for r in by_source["manual.pdf"]} == {1, 2}  # type: ignore[index]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"logo.png": b"\x89PNG\r\n"}, "memories/logo.png is not a memory file (use .jsonl, .htm, .html, .markdown, .md, .pdf, .text, .txt): move it out of memories/"),
        ({"photo.md": b"\xff\xd8\xff\x00JFIF"}, "invalid memories: photo.md: a binary file, not text/markdown text: remove it or give it the right suffix"),
    ],
    ids=["unknown-suffix", "binary-as-md"],
)  # fmt: skip
def test_pack_refuses_binary_files_in_memories(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    source = make_source(tmp_path / "src", files)
    result = memos(
        tmp_path / "home", "pack", str(source), "-o", str(tmp_path / "x.memcube"), "--unsigned"
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "x.memcube").exists()


@pytest.mark.slow
@pytest.mark.parametrize("size", [5_000, 12_600, 50_000])
def test_facts_anywhere_in_a_long_document_are_found_in_the_top_3(
    tmp_path: Path, size: int
) -> None:
    """The issue's case: the end of a 12.6k-character document was not found at all."""
    filler = long_markdown(400, seed=size)[:size]
    facts = {
        "start": ("The vault combination is 4-8-15.", "What is the vault combination?"),
        "middle": (
            "Our courier Marta only delivers on Wednesdays.",
            "Which day does Marta deliver?",
        ),
        "end": ("The staging cluster lives in Frankfurt.", "Where is the staging cluster?"),
    }
    third = len(filler) // 2
    cut = filler.rfind("\n\n", 0, third) + 2
    text = (
        facts["start"][0] + "\n\n" + filler[:cut] + facts["middle"][0] + "\n\n" + filler[cut:]
        + "\n\n" + facts["end"][0] + "\n"
    )  # fmt: skip
    (tmp_path / "long.md").write_text(text)
    home = tmp_path / "home"
    added = memos(home, "add", "--file", "long.md", "--cube", "me/long", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    for fact, question in facts.values():
        found = memos(home, "query", question, "--cube", "me/long", "-k", "3", "--json")
        texts = [hit["item"]["text"] for hit in json.loads(found.stdout)]
        assert any(fact in t for t in texts), (question, [t[:60] for t in texts])
