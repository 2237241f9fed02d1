"""Documents read into text and structure: Markdown, text, HTML, PDF, and bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from memos_client.errors import DocumentError
from memos_client.ingest import documents
from memos_client.ingest.documents import parse_document, read_document
from tests.ingest.conftest import make_pdf

MARKDOWN = """\
---
title: Field guide
tags: [birds]
---
# Field guide

Intro paragraph about **birds**.

## Owls

Owls hunt at night.

- barn owl
- snowy owl

### Barn owl

```
call: screech
```

Setext heading
--------------

| a | b |
|---|---|
| 1 | 2 |
"""


def covered(document: documents.Document) -> str:
    """The document's non-space characters, as the blocks cover them (each exactly once)."""
    positions: list[int] = []
    for block in document.blocks:
        positions.extend(range(block.start, block.end))
    assert len(positions) == len(set(positions)), "blocks overlap"
    return "".join(document.text[i] for i in sorted(positions) if not document.text[i].isspace())


def non_space(text: str) -> str:
    return "".join(character for character in text if not character.isspace())


def test_markdown_blocks_carry_the_heading_path_and_cover_every_character() -> None:
    document = parse_document(MARKDOWN.encode(), "guide.md", "text/markdown")
    assert document.title == "Field guide"
    assert covered(document) == non_space(MARKDOWN)
    by_text = {document.text[b.start : b.end]: b for b in document.blocks}
    assert by_text["Owls hunt at night."].headings == ("Field guide", "Owls")
    assert by_text["```\ncall: screech\n```"].headings == ("Field guide", "Owls", "Barn owl")
    assert by_text["```\ncall: screech\n```"].kind == "code"
    assert by_text["- barn owl\n- snowy owl"].kind == "list"
    assert by_text["## Owls"].kind == "heading"
    # A setext heading closes "Barn owl" and opens a level-2 section under the title.
    assert by_text["| a | b |\n|---|---|\n| 1 | 2 |"].headings == ("Field guide", "Setext heading")
    assert document.blocks[0].kind == "front-matter"


def test_markdown_offsets_count_characters_after_newline_normalisation() -> None:
    text = "# Título\r\n\r\nCafé con leche.\r\n"
    document = parse_document(("\ufeff" + text).encode(), "a.md", "text/markdown")
    assert document.text == "# Título\n\nCafé con leche.\n"
    last = document.blocks[-1]
    assert document.text[last.start : last.end] == "Café con leche."


def test_html_keeps_text_and_headings_and_drops_scripts() -> None:
    markup = b"""<!doctype html><html><head><title>Ops manual</title>
    <style>p { color: red }</style><script>alert("x")</script></head>
    <body><nav>Home</nav><h1>Deploys</h1><p>Deploy on <b>Tuesdays</b>.<br>Never Fridays.</p>
    <div>Loose text<p>inner para</p></div>
    <h2>Rollback</h2><table><tr><th>step</th><th>cmd</th></tr><tr><td>1</td><td>undo</td></tr></table>
    <pre>  kubectl rollout undo
  done</pre><!-- a comment --></body></html>"""
    document = parse_document(markup, "ops.html", "text/html")
    assert document.title == "Ops manual"
    assert "alert" not in document.text
    assert "color" not in document.text
    assert "comment" not in document.text
    texts = {document.text[b.start : b.end]: b for b in document.blocks}
    assert texts["Deploy on Tuesdays. Never Fridays."].headings == ("Deploys",)
    assert texts["step | cmd"].headings == ("Deploys", "Rollback")
    assert texts["1 | undo"].kind == "table"
    assert "  kubectl rollout undo\n  done" in texts
    assert texts["Loose text"].headings == ("Deploys",)


def test_html_in_its_declared_charset() -> None:
    markup = '<html><head><meta charset="iso-8859-1"></head><body><p>Crème brûlée</p></body></html>'
    document = parse_document(markup.encode("latin-1"), "menu.html", "text/html")
    assert "Crème brûlée" in document.text


def test_pdf_pages_and_text(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "two.pdf", ["Alpha line one.\nAlpha line two.", "Beta on page two."])
    document = read_document(path, "two.pdf")
    assert document.media_type == "application/pdf"
    pages = {document.text[b.start : b.end]: b.page for b in document.blocks}
    assert pages["Beta on page two."] == 2
    assert pages["Alpha line one."] == 1


def test_pdf_with_an_empty_user_password_is_read(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "locked.pdf", ["Readable words."], owner_password="owner")
    assert "Readable words." in read_document(path, "locked.pdf").text


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda p: make_pdf(p, ["secret"], owner_password="o", user_password="u"),
            "x.pdf: the PDF is encrypted with a password: decrypt it first (e.g. qpdf "
            "--password=... --decrypt in.pdf out.pdf)",
        ),
        (
            lambda p: make_pdf(p, ["", ""], image_only=True),
            "x.pdf: no extractable text in 2 page(s) (a scanned or image-only PDF): run OCR on "
            "it first (e.g. ocrmypdf) or add its text as a .txt file",
        ),
        (
            lambda p: p.write_bytes(b"PK\x03\x04 a zip, named .pdf"),
            "x.pdf: not a PDF file (it does not start with %PDF-)",
        ),
    ],
    ids=["encrypted", "image-only", "not-a-pdf"],
)
def test_unreadable_pdfs_are_refused_with_what_to_do(
    tmp_path: Path, build: object, message: str
) -> None:
    path = tmp_path / "x.pdf"
    build(path)  # type: ignore[operator]
    with pytest.raises(DocumentError) as caught:
        read_document(path, "x.pdf")
    assert str(caught.value) == message


def test_a_damaged_pdf_is_refused(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", ["Some text."]).read_bytes()
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(good[: len(good) // 3])
    with pytest.raises(DocumentError) as caught:
        read_document(damaged, "damaged.pdf")
    assert str(caught.value) == ("damaged.pdf: not a readable PDF (Stream has ended unexpectedly)")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("logo.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "logo.md: a binary file, not "
         "text/markdown text: remove it or give it the right suffix"),
        ("notes.txt", "caf\u00e9".encode("latin-1"), "notes.txt: not UTF-8 text (byte 3): "
         "convert it to UTF-8"),
        ("page.html", "<p>caf\u00e9</p>".encode("cp1252"), "page.html: HTML that is neither "
         "UTF-8 nor in its declared charset"),
        ("data.docx", b"PK", "data.docx: not a document this version reads (supported: .htm, "
         ".html, .markdown, .md, .pdf, .text, .txt)"),
    ],
)  # fmt: skip
def test_bad_documents_are_refused(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentError) as caught:
        read_document(path, name)
    assert str(caught.value) == message


def test_a_document_over_the_size_limit_is_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 1 << 20)
    path = tmp_path / "huge.txt"
    path.write_bytes(b"word " * 209_720)
    with pytest.raises(DocumentError, match=r"^huge.txt: 1048600 bytes, over the 1 MiB document"):
        read_document(path, "huge.txt")
