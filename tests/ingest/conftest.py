"""Fixtures for the ingestion tests: the embedder's real tokenizer and real PDF files (fpdf2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memos_client.ingest.tokens import WordPieceCounter, embedder_tokens


@pytest.fixture(scope="session")
def counter() -> WordPieceCounter:
    """all-MiniLM-L6-v2's WordPiece tokenizer, as the chunker and the embedder use it."""
    return embedder_tokens()


def make_pdf(
    path: Path,
    pages: list[str],
    *,
    owner_password: str | None = None,
    user_password: str = "",
    image_only: bool = False,
) -> Path:
    """A real PDF written by fpdf2: one page per text (or a picture and no text at all)."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for text in pages:
        pdf.add_page()
        if image_only:
            pdf.image(Image.new("RGB", (240, 120), "white"), x=10, y=10, w=120)
        else:
            pdf.multi_cell(0, 6, text)
    if owner_password is not None:
        pdf.set_encryption(owner_password=owner_password, user_password=user_password)
    pdf.output(str(path))
    return path
