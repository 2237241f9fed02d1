"""Cube cards (MIP-1 §5.4) as HTML: the publisher's Markdown, rendered as untrusted text.

Two layers, each enough on its own for the rules that matter:

1. markdown-it-py (CommonMark plus tables and strikethrough) with raw HTML off, so markup in the
   README is shown as text; links only to ``http``, ``https``, ``mailto`` and in-page anchors
   (anything else stays text); images never load: each becomes a link to its URL; headings move
   down two levels, below the page's own ``h1`` and the card section's ``h2``.
2. nh3 (the ammonia sanitiser) keeps only an allow-list of tags and attributes, only those URL
   schemes, and marks every link ``rel="nofollow noopener noreferrer"``.

The pages' Content-Security-Policy (``img-src 'self' data:``, no inline script or style) is a
third. Rendering is cached by text: a version's card never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

#: URL schemes a card may link to.
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
_TAGS = {
    "p", "br", "hr", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}}
#: Cards rendered per process (each at most a few hundred KiB of HTML).
CACHE_SIZE = 64


def _allowed_link(url: str) -> bool:
    scheme, colon, _ = url.partition(":")
    return url.startswith("#") or (
        bool(colon) and scheme.lower() in LINK_SCHEMES and "/" not in scheme
    )


def _render_image(
    renderer: RendererHTML, tokens: Sequence[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    """An image as a link to it (never loaded): ``image: ALT``."""
    token = tokens[index]
    alt = renderer.renderInlineAsText(token.children or [], options, env) or "image"
    source = str(token.attrGet("src") or "")
    if source and _allowed_link(source) and not source.startswith(("#", "mailto:")):
        return f'<a href="{escapeHtml(source)}">image: {escapeHtml(alt)}</a>'
    return f"[image: {escapeHtml(alt)}]"


def _shift_headings(state: Any) -> None:
    """``#`` → ``h3`` … ``####`` and deeper → ``h6``: the page has its own ``h1`` and ``h2``."""
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 2)}"


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.validateLink = _allowed_link  # type: ignore[method-assign]
    parser.add_render_rule("image", _render_image)
    parser.core.ruler.push("shift_headings", _shift_headings)
    return parser


_PARSER = _parser()


@lru_cache(maxsize=CACHE_SIZE)
def render_card(readme: str) -> Markup:
    """Safe HTML for a card's Markdown (see the module docstring for what "safe" means here)."""
    html = _PARSER.render(readme)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=set(LINK_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return Markup(clean)  # noqa: S704  (sanitised above: this is the one place markup is trusted)
