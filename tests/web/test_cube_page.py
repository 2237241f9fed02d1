"""The cube page's card, memory preview and ``.memcube`` download; yanked versions and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import text

from mip.container import open_bundle
from registry_server.services import version_diff
from tests.web.conftest import Seeded
from tests.web.seeding import HOSTILE

HTML = {"accept": "text/html,application/xhtml+xml"}
REL = ["nofollow", "noopener", "noreferrer"]


def page(seeded: Seeded, url: str, status: int = 200) -> BeautifulSoup:
    response = seeded.client.get(url, headers=HTML)
    assert response.status_code == status, response.text[-1000:]
    return BeautifulSoup(response.text, "html.parser")


def words(node: BeautifulSoup) -> str:
    return " ".join(node.get_text(" ").split())


def test_the_card_is_rendered_markdown_and_nothing_else(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/handbook")
    card = soup.select_one("section.card .card-readme")
    assert card is not None
    # Structure survives, one level below the page's own headings.
    assert [h.name for h in card.find_all(["h1", "h2", "h3", "h4"])] == ["h3", "h4"]
    assert card.find("h3").get_text() == "The MemOS handbook"
    assert card.select("table tr")[1].get_text(" ").split() == ["memories", "the", "handbook's", "text"]  # fmt: skip
    assert card.find("code", class_="language-python").get_text() == "memos install acme/handbook\n"
    # Markup in the README is shown as text, never run or loaded.
    assert HOSTILE in card.get_text()
    assert soup.select("main script, main img, main iframe, main [onerror], main [style]") == []
    links = {a.get_text(): a for a in card.find_all("a")}
    assert links["MemOS"]["href"] == "https://memos.example/docs"
    assert links["image: a tracking pixel"]["href"] == "https://tracker.example/pixel.png"
    assert set(links) == {"MemOS", "image: a tracking pixel"}  # javascript: and relative: text
    assert "[a script link](javascript:alert(1))" in card.get_text()
    for anchor in card.find_all("a"):
        assert anchor["rel"] == REL
    details = {dt.get_text(): dt.find_next("dd") for dt in soup.select("dl.facts dt")}
    assert details["Homepage"].a["href"] == "https://memos.example/handbook"
    assert details["Repository"].a["href"] == "https://git.example/acme/handbook"
    assert details["Repository"].a["rel"] == REL


def test_a_cube_without_a_card_has_no_card_section(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/glossary")
    assert soup.select("section.card") == []
    assert "Homepage" not in words(soup.select_one("dl.facts"))


def test_the_preview_shows_the_first_memories(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/handbook")
    preview = soup.select_one("ol.memory-preview")
    assert [h.get_text() for h in preview.select(".memory-id")] == ["kv-cache", "lora", "new-note"]
    assert preview.select(".memory-text")[2].get_text() == f"A memory with markup: {HOSTILE}"
    recipes = page(seeded, "/cubes/acme/recipes")
    assert "The first 5 of 8 memories:" in words(recipes)
    assert len(recipes.select("ol.memory-preview li")) == 5


def test_page_views_read_no_blob_once_published(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = seeded.client.app.state.registry  # type: ignore[attr-defined]
    reads: list[tuple[str, int, int | None]] = []
    real_read = state.store.read

    def read(key: str, start: int = 0, end: int | None = None) -> object:
        reads.append((key, start, end))
        return real_read(key, start, end)

    monkeypatch.setattr(state.store, "read", read)
    version_diff.DIFF_CACHE._entries.clear()
    for url in ("/cubes/acme/handbook", "/cubes/acme/recipes/versions/1.1.0", "/cubes/acme/glossary"):  # fmt: skip
        page(seeded, url)
    assert reads == []  # cards, previews: derived at publish
    page(seeded, "/cubes/acme/handbook/diff?from=1.0.0&to=1.1.0")
    # The diff read only the records it shows, by byte range.
    assert reads
    assert all(end is not None for _, _, end in reads)
    assert sum(end - start for _, start, end in reads if end is not None) < 2_000


def test_derived_rows_are_rebuilt_on_first_use(seeded: Seeded) -> None:
    state = seeded.client.app.state.registry  # type: ignore[attr-defined]
    before = page(seeded, "/cubes/acme/handbook")
    with state.engine.begin() as connection:
        for table in ("plaintext_summary", "blob_checksum", "version_card"):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (constant names)
    after = page(seeded, "/cubes/acme/handbook")
    assert str(after.select_one("section.card")) == str(before.select_one("section.card"))
    assert str(after.select_one("ol.memory-preview")) == str(before.select_one("ol.memory-preview"))
    with state.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM version_card")).scalar_one() == 1


def test_the_memcube_download_is_a_valid_signed_bundle(seeded: Seeded, tmp_path: Path) -> None:
    soup = page(seeded, "/cubes/acme/handbook")
    link = soup.select_one("a.download-link")
    assert link["href"] == "/v1/cubes/acme/handbook/versions/1.1.0/memcube"
    assert link["download"] == "acme-handbook-1.1.0.memcube"
    answer = seeded.client.get(link["href"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.memcube.bundle.v1+zip"
    assert answer.headers["content-length"] == str(len(answer.content))
    assert answer.headers["content-disposition"] == 'attachment; filename="acme-handbook-1.1.0.memcube"'  # fmt: skip
    path = tmp_path / "download.memcube"
    path.write_bytes(answer.content)
    with open_bundle(path) as bundle:
        bundle.verify_blobs()
        bundle.check_contents()
        assert bundle.manifest.name == "acme/handbook"
        assert bundle.digest == answer.headers["memstore-manifest-digest"]
        assert answer.headers["etag"] == f'"{bundle.digest}"'
        assert {part.name for part in bundle.manifest.parts} == {
            "memories",
            "kv-prefix",
            "style-lora",
        }
    # The same bundle the packer wrote, up to entry order: same manifest, same envelope bytes.
    envelope = seeded.client.get("/v1/cubes/acme/handbook/versions/1.1.0/envelope").content
    with open_bundle(path) as bundle:
        assert bundle.envelope.to_json() == envelope


def test_the_memcube_download_counts_and_refuses_unknown_versions(seeded: Seeded) -> None:
    state = seeded.client.app.state.registry  # type: ignore[attr-defined]

    def downloads() -> int:
        state.downloads.flush()
        answer = seeded.client.get("/v1/cubes/acme/glossary/versions/1.0.0")
        count: int = answer.json()["downloads"]
        return count

    before = downloads()
    assert seeded.client.get("/v1/cubes/acme/glossary/versions/1.0.0/memcube").status_code == 200
    assert downloads() == before + 1
    for url, code in (
        ("/v1/cubes/acme/glossary/versions/9.9.9/memcube", "version_not_found"),
        ("/v1/cubes/acme/nothing/versions/1.0.0/memcube", "cube_not_found"),
    ):
        answer = seeded.client.get(url)
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == code


def test_a_yanked_version_links_to_the_latest_good_one(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/recipes/versions/1.1.0")
    notice = soup.select_one(".yank-notice")
    assert "The latest good version is 1.2.0 ." in words(notice)
    assert notice.select_one(".latest-good a")["href"] == "/cubes/acme/recipes"
    hostile = page(seeded, "/cubes/evil/hostile")
    assert "Every version of this cube is yanked." in words(hostile.select_one(".yank-notice"))


def test_default_comparisons_skip_yanked_versions(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/recipes")
    assert soup.select_one("#diff-from option[selected]")["value"] == "1.0.0"
    assert soup.select_one("#diff-to option[selected]")["value"] == "1.2.0"
    assert soup.select_one("a.diff-link").get_text() == "What changed since 1.0.0"
    diff = page(seeded, "/cubes/acme/recipes/diff")
    assert diff.find("h1").get_text() == "acme/recipes: 1.0.0 → 1.2.0"
    assert "2 memories added" in words(diff)
    # The yanked version can still be compared when asked for.
    asked = page(seeded, "/cubes/acme/recipes/diff?from=1.1.0&to=1.2.0")
    assert asked.find("h1").get_text() == "acme/recipes: 1.1.0 → 1.2.0"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/cubes/acme/handbok", ["acme/handbook"]),  # a typo in the name
        ("/cubes/acm/handbook", ["acme/handbook"]),  # a typo in the namespace
        ("/cubes/acme/recipe/versions/1.0.0", ["acme/recipes"]),
        ("/cubes/nobody/zzzzzz", []),
    ],
)
def test_an_unknown_cube_suggests_the_nearest_names(
    seeded: Seeded, url: str, expected: list[str]
) -> None:
    soup = page(seeded, url, status=404)
    assert [a.get_text() for a in soup.select(".suggestions a")][: len(expected) or 1] == (
        expected or []
    )
    if expected:
        assert soup.select_one(".suggestions a")["href"] == "/cubes/" + expected[0]
