"""Fixtures for the runtime tests: the real all-MiniLM-L6-v2 embedder, shared, and fresh stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memos_client.runtime import MemOS
from memos_client.runtime.embedding.minilm import MiniLMEmbedder, Vectors


class CountingEmbedder(MiniLMEmbedder):
    """The real model, counting how many texts it was asked to embed (to test the cache)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def embed(self, texts: list[str]) -> Vectors:
        self.embedded += len(texts)
        return super().embed(texts)


@pytest.fixture(scope="session")
def embedder() -> CountingEmbedder:
    """One model for the whole session: loading it is the slow part."""
    return CountingEmbedder()


@pytest.fixture
def mem(tmp_path: Path, embedder: CountingEmbedder) -> Iterator[MemOS]:
    """A fresh runtime in a temporary MEMOS_HOME."""
    runtime = MemOS(home=tmp_path / "home", embedder=embedder)
    yield runtime
    runtime.close()


FACTS = [
    ("Luna is my cat; she sleeps on the windowsill all afternoon.", ["pets"], {"speaker": "Ann"}),
    ("We hiked up to the glacier in the Alps last summer.", ["travel"], {"speaker": "Ben"}),
    ("My sister paints watercolours and sells them in Lyon.", ["family"], {"speaker": "Ann"}),
    ("The quarterly budget report is due on Friday.", ["work"], {"speaker": "Ben"}),
    ("I started learning to play the cello in January.", ["hobby"], {"speaker": "Ann"}),
    ("Our flight to Tokyo leaves at 7 am on the 3rd.", ["travel"], {"speaker": "Ben"}),
]


@pytest.fixture
def facts(mem: MemOS) -> list[str]:
    """Six small memories in cube me/notes; returns their ids."""
    return mem.add_many(
        [{"text": t, "tags": tags, "metadata": meta} for t, tags, meta in FACTS], cube="me/notes"
    )
