"""Cube cards are rendered as untrusted Markdown: no markup, no remote loads, safe links only."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from registry_server.services.cards import LINK_REL, render_card

ALLOWED_TAGS = {"p", "br", "hr", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td"}  # fmt: skip
HOSTILE_CARDS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    "<javascript:alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "![x](https://tracker.example/p.png)",
    "![x](data:image/svg+xml;base64,PHN2Zy8+)",
    '![x](https://a.example/p.png "onerror=alert(1)")',
    "<iframe src=https://evil.example></iframe>",
    '<div style="position:fixed;inset:0">overlay</div>',
    "<svg><script>alert(1)</script></svg>",
    "```\n</code><script>alert(1)</script>\n```",
    "<!-- <script>alert(1)</script> -->",
    "# <img src=x onerror=alert(1)>",
    "| a |\n|---|\n| <script>alert(1)</script> |",
]


@pytest.mark.parametrize("markdown", HOSTILE_CARDS)
def test_hostile_markdown_becomes_harmless_html(markdown: str) -> None:
    html = str(render_card(markdown))
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(True):
        assert tag.name in ALLOWED_TAGS, html
        for attribute, value in tag.attrs.items():
            assert not attribute.startswith("on"), html
            assert attribute in {"href", "title", "rel", "start", "class"}, html
            if attribute == "href":
                assert value.startswith(("https://", "http://", "mailto:", "#")), html
    for anchor in soup.find_all("a"):
        assert anchor["rel"] == LINK_REL.split()
    assert "<img" not in html
    assert "<script" not in html


def test_markdown_structure_is_kept_and_headings_move_down() -> None:
    soup = BeautifulSoup(
        str(render_card("# A\n## B\n###### F\n\n* one\n* two\n\n`x`")), "html.parser"
    )
    assert [h.name for h in soup.find_all(["h3", "h4", "h6"])] == ["h3", "h4", "h6"]
    assert [li.get_text() for li in soup.find_all("li")] == ["one", "two"]
    assert soup.find("code").get_text() == "x"


def test_images_become_links_to_them() -> None:
    soup = BeautifulSoup(str(render_card("![the logo](https://x.example/logo.png)")), "html.parser")
    anchor = soup.find("a")
    assert (anchor.get_text(), anchor["href"]) == ("image: the logo", "https://x.example/logo.png")
