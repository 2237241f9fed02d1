"""The API's search and the marketplace's search page answer the same query the same way."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from tests.web.conftest import Seeded

HTML = {"accept": "text/html,application/xhtml+xml"}
QUERIES = ["", "   ", "?! …", "handbook", "HANDB", "memos handbook", "terms acme", "hostile_script", "acme " * 20, "nothing-matches-this"]  # fmt: skip


def api_names(seeded: Seeded, query: str) -> list[str]:
    answer = seeded.client.get("/v1/search", params={"q": query, "limit": 20})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(body["results"])
    return [hit["name"] for hit in body["results"]]


def web_names(seeded: Seeded, query: str) -> list[str]:
    answer = seeded.client.get("/search", params={"q": query}, headers=HTML)
    assert answer.status_code == 200, answer.text
    soup = BeautifulSoup(answer.text, "html.parser")
    return [a.get_text() for a in soup.select(".cube-card-title a")]


@pytest.mark.parametrize("query", QUERIES)
def test_api_and_page_list_the_same_cubes_in_the_same_order(seeded: Seeded, query: str) -> None:
    assert api_names(seeded, query) == web_names(seeded, query)


def test_a_query_without_words_lists_every_cube_most_downloaded_first(seeded: Seeded) -> None:
    for query in ("", " ", "?!"):
        names = api_names(seeded, query)
        assert names[0] == "acme/handbook"  # the only cube downloaded
        assert sorted(names) == ["acme/glossary", "acme/handbook", "acme/recipes", "evil/hostile"]


def test_only_the_api_refuses_an_over_long_query(seeded: Seeded) -> None:
    long_query = "handbook" + " " * 600 + "nothing-matches-this"
    answer = seeded.client.get("/v1/search", params={"q": long_query})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"
    # The page reads the first 500 characters, as documented.
    assert web_names(seeded, long_query) == ["acme/handbook"]
