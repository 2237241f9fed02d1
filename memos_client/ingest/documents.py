"""Reading documents into text and structure: Markdown, plain text, HTML and PDF.

Every reader returns a :class:`Document`: the text the chunks are cut from and its blocks in
reading order, each with its character span in that text, the heading path above it (a heading is
a block too, under its own path) and, for a PDF, its page. Every character of text is in some
block, so no part of a document is left out of the chunks.

- Markdown: markdown-it-py's CommonMark block tokens (paragraphs, lists, code, tables, quotes);
  their line maps give exact spans in the file's text (newlines normalised to ``\\n``).
- Plain text: paragraphs separated by blank lines.
- HTML: selectolax (the Lexbor HTML5 parser) walks the DOM; block elements become paragraphs,
  ``h1``-``h6`` the heading path; scripts, styles and templates are dropped. Spans refer to the
  extracted text.
- PDF: pypdf's text of each page, split into paragraphs. An encrypted PDF (unless its user
  password is empty) and one without extractable text (scanned images) are refused with what to
  do; nothing is guessed.

Limits bound what is read (:data:`MAX_DOCUMENT_BYTES`, :data:`MAX_DOCUMENT_CHARS`): a document
over them is refused whole, never cut short.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import msgspec

from memos_client.errors import DocumentError

#: The largest document file read (a PDF, an HTML page, a Markdown book).
MAX_DOCUMENT_BYTES = 64 << 20
#: The most characters of text one document may yield (a bound on what a PDF inflates to).
MAX_DOCUMENT_CHARS = 16_000_000

#: Media type of each document suffix (lower-cased).
MEDIA_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}


class Block(msgspec.Struct, frozen=True):
    """A unit of a document's structure: ``text[start:end]`` under ``headings``."""

    start: int
    end: int
    headings: tuple[str, ...] = ()
    page: int | None = None
    kind: str = "paragraph"


class Document(msgspec.Struct, frozen=True):
    """A document's extracted text and its blocks, in reading order."""

    source: str
    media_type: str
    text: str
    blocks: list[Block]
    title: str | None = None


def is_document(path: Path) -> bool:
    """Whether ``path``'s suffix names a document format this module reads."""
    return path.suffix.lower() in MEDIA_TYPES


def read_document(path: Path, source: str | None = None) -> Document:
    """Read ``path`` (format from its suffix); ``source`` names it in records (default: the path)."""
    name = source if source is not None else str(path)
    media_type = MEDIA_TYPES.get(path.suffix.lower())
    if media_type is None:
        supported = ", ".join(sorted(MEDIA_TYPES))
        raise DocumentError(f"{name}: not a document this version reads (supported: {supported})")
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentError(
            f"{name}: {size} bytes, over the {MAX_DOCUMENT_BYTES >> 20} MiB document limit: "
            "split it into several files"
        )
    data = path.read_bytes()
    return parse_document(data, name, media_type)


def parse_document(data: bytes, source: str, media_type: str) -> Document:
    """Parse a document's bytes; raise :class:`DocumentError` naming ``source`` on bad input."""
    if media_type == "application/pdf":
        document = _pdf(data, source)
    else:
        if b"\x00" in data[: 1 << 16]:
            raise DocumentError(
                f"{source}: a binary file, not {media_type} text: remove it or give it the "
                "right suffix"
            )
        if media_type == "text/html":
            document = _html(_decode_html(data, source), source)
        else:
            text = _decode_text(data, source)
            if media_type == "text/markdown":
                document = _markdown(text, source)
            else:
                document = _plain(text, source)
    if len(document.text) > MAX_DOCUMENT_CHARS:
        raise DocumentError(
            f"{source}: {len(document.text)} characters of text, over the "
            f"{MAX_DOCUMENT_CHARS} limit: split it into several files"
        )
    return document


def _decode_text(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"{source}: not UTF-8 text (byte {exc.start}): convert it to UTF-8"
        ) from None
    return normalise_newlines(text)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.IGNORECASE)


def _decode_html(data: bytes, source: str) -> str:
    try:
        return normalise_newlines(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        pass
    # Not UTF-8: the page's own <meta charset> says what it is (HTML5 encoding sniffing, reduced
    # to the declared label).
    match = _META_CHARSET.search(data[:4096])
    if match is not None:
        try:
            codec = codecs.lookup(match.group(1).decode("ascii"))
            return normalise_newlines(data.decode(codec.name))
        except (LookupError, UnicodeDecodeError):
            pass
    raise DocumentError(f"{source}: HTML that is neither UTF-8 nor in its declared charset")


def normalise_newlines(text: str) -> str:
    """``\\r\\n`` and ``\\r`` as ``\\n`` (offsets of chunks count characters of this text)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``start, end`` without the whitespace at either end of ``text[start:end]``."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n\s*")


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The spans of the paragraphs (runs of text between blank lines) of ``text[start:end]``."""
    stop = len(text) if end is None else end
    spans = []
    position = start
    for match in _BLANK_LINES.finditer(text, start, stop):
        first, last = _trimmed(text, position, match.start())
        if first < last:
            spans.append((first, last))
        position = match.end()
    first, last = _trimmed(text, position, stop)
    if first < last:
        spans.append((first, last))
    return spans


def _plain(text: str, source: str) -> Document:
    blocks = [Block(start, end) for start, end in paragraph_spans(text)]
    return Document(source, "text/plain", text, blocks)


# -- Markdown ----------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
#: markdown-it block tokens that open a block of prose, and the kind recorded for each.
_MARKDOWN_BLOCKS = {
    "paragraph_open": "paragraph",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "blockquote_open": "quote",
    "table_open": "table",
    "fence": "code",
    "code_block": "code",
    "html_block": "html",
}


def _markdown(text: str, source: str) -> Document:
    from markdown_it import MarkdownIt

    lines = [0, *(match.end() for match in re.finditer("\n", text)), len(text)]

    def offset(line: int) -> int:
        return lines[min(line, len(lines) - 1)]

    blocks: list[Block] = []
    body_start = 0
    front = _FRONT_MATTER.match(text)
    if front is not None:
        # YAML front matter (title, tags...): CommonMark would read it as a rule and a setext
        # heading. It is kept as a block of its own, so its text is searchable too.
        first, last = _trimmed(text, 0, front.end())
        blocks.append(Block(first, last, (), None, "front-matter"))
        body_start = text.count("\n", 0, front.end())
    parser = MarkdownIt("commonmark").enable("table")
    body = text[offset(body_start) :]
    tokens = parser.parse(body)
    stack: list[tuple[int, str]] = []
    title: str | None = None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.level != 0 or token.map is None:
            index += 1
            continue
        start_line, end_line = token.map[0] + body_start, token.map[1] + body_start
        if token.type == "heading_open":
            level = int(token.tag[1:])
            inline = tokens[index + 1] if index + 1 < len(tokens) else None
            heading = " ".join((inline.content if inline is not None else "").split())
            while stack and stack[-1][0] >= level:
                stack.pop()
            if heading:
                stack.append((level, heading))
                if title is None and level == 1:
                    title = heading
            first, last = _trimmed(text, offset(start_line), offset(end_line))
            if first < last:
                # The heading line is text too: it opens its section's first chunk.
                headings = tuple(name for _, name in stack)
                blocks.append(Block(first, last, headings, None, "heading"))
        elif token.type in _MARKDOWN_BLOCKS:
            first, last = _trimmed(text, offset(start_line), offset(end_line))
            if first < last:
                headings = tuple(name for _, name in stack)
                blocks.append(Block(first, last, headings, None, _MARKDOWN_BLOCKS[token.type]))
        index += 1
    return Document(source, "text/markdown", text, blocks, title)


# -- HTML --------------------------------------------------------------------------------------

_SKIPPED_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "head"}
)
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "li",
        "ul", "ol", "dl", "dt", "dd", "blockquote", "figure", "figcaption", "table", "caption",
        "thead", "tbody", "tfoot", "form", "fieldset", "address", "details", "summary", "hr",
        "body", "html", "center", "legend", "option",
    }
)  # fmt: skip
_SPACES = re.compile(r"\s+")


class _HtmlText:
    """Accumulates the extracted text of a page and its blocks."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.blocks: list[Block] = []
        self.inline: list[str] = []
        self.stack: list[tuple[int, str]] = []
        self.title: str | None = None

    def _append(self, text: str, kind: str | None) -> None:
        if self.length:
            self.parts.append("\n\n")
            self.length += 2
        if kind is not None:
            headings = tuple(name for _, name in self.stack)
            self.blocks.append(Block(self.length, self.length + len(text), headings, None, kind))
        self.parts.append(text)
        self.length += len(text)

    def flush(self, kind: str = "paragraph") -> None:
        text = _SPACES.sub(" ", "".join(self.inline)).strip()
        self.inline.clear()
        if text:
            self._append(text, kind)

    def heading(self, level: int, text: str) -> None:
        self.flush()
        text = _SPACES.sub(" ", text).strip()
        if not text:
            return
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, text))
        if self.title is None and level == 1:
            self.title = text
        self._append(text, "heading")  # it opens its section's first chunk

    def verbatim(self, text: str, kind: str) -> None:
        self.flush()
        text = normalise_newlines(text).strip("\n")
        if text.strip():
            self._append(text, kind)


def _walk_html(node: object, out: _HtmlText) -> None:
    for child in node.iter(include_text=True):  # type: ignore[attr-defined]
        tag = child.tag
        if tag == "-text":
            out.inline.append(child.text_content or "")
        elif tag in _SKIPPED_TAGS or tag == "-comment":
            continue
        elif tag in _HEADING_TAGS:
            out.heading(_HEADING_TAGS[tag], child.text(deep=True, separator=" "))
        elif tag == "pre":
            out.verbatim(child.text(deep=True), "code")
        elif tag == "tr":
            out.flush()
            cells = [
                _SPACES.sub(" ", cell.text(deep=True, separator=" ")).strip()
                for cell in child.iter()
                if cell.tag in ("td", "th")
            ]
            row = " | ".join(cell for cell in cells if cell)
            if row:
                out.inline.append(row)
                out.flush("table")
        elif tag == "br":
            out.inline.append(" ")
        elif tag in _BLOCK_TAGS:
            out.flush()
            _walk_html(child, out)
            out.flush()
        else:
            _walk_html(child, out)


def _html(markup: str, source: str) -> Document:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    out = _HtmlText()
    head_title = tree.css_first("head > title")
    root = tree.body if tree.body is not None else tree.root
    if root is not None:
        _walk_html(root, out)
        out.flush()
    text = "".join(out.parts)
    title = out.title
    if head_title is not None:
        title = _SPACES.sub(" ", head_title.text()).strip() or title
    return Document(source, "text/html", text, out.blocks, title)


# -- PDF ---------------------------------------------------------------------------------------


def _pdf(data: bytes, source: str) -> Document:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError(f"{source}: not a PDF file (it does not start with %PDF-)")
    # pypdf reports recoverable damage through logging; a document it can read is read.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are encrypted only against editing, with an empty user password.
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise DocumentError(
                    f"{source}: encrypted with a method this reader does not support ({exc}): "
                    "decrypt it first (e.g. qpdf --decrypt)"
                ) from exc
            if not opened:
                raise DocumentError(
                    f"{source}: the PDF is encrypted with a password: decrypt it first "
                    "(e.g. qpdf --password=... --decrypt in.pdf out.pdf)"
                )
        pages = [page.extract_text() or "" for page in reader.pages]
    except FileNotDecryptedError as exc:
        raise DocumentError(
            f"{source}: the PDF is encrypted with a password: decrypt it first"
        ) from exc
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        # pypdf raises these on damaged files; the reason is the PDF's, not ours.
        raise DocumentError(f"{source}: not a readable PDF ({exc})") from exc
    except RecursionError as exc:
        raise DocumentError(f"{source}: not a readable PDF (objects nested too deeply)") from exc
    parts: list[str] = []
    blocks: list[Block] = []
    length = 0
    for number, page_text in enumerate(pages, start=1):
        page_text = normalise_newlines(page_text).replace("\x00", "")
        if not page_text.strip():
            continue
        if length:
            parts.append("\n\n")
            length += 2
        spans = paragraph_spans(page_text)
        if len(spans) == 1:
            # pypdf rarely leaves blank lines between paragraphs: lines are the finer structure.
            spans = [
                (start, end)
                for start, end in _line_spans(page_text)
                if page_text[start:end].strip()
            ]
        blocks.extend(Block(length + start, length + end, (), number) for start, end in spans)
        parts.append(page_text)
        length += len(page_text)
    if not blocks:
        raise DocumentError(
            f"{source}: no extractable text in {len(pages)} page(s) (a scanned or image-only "
            "PDF): run OCR on it first (e.g. ocrmypdf) or add its text as a .txt file"
        )
    return Document(source, "application/pdf", "".join(parts), blocks)


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    position = 0
    for line in text.split("\n"):
        spans.append(_trimmed(text, position, position + len(line)))
        position += len(line) + 1
    return spans
