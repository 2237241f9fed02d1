"""Functional tests of the marketplace pages against the real app, seeded by real publishes."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from tests.web.conftest import Seeded
from tests.web.seeding import HOSTILE

HTML = {"accept": "text/html,application/xhtml+xml"}


def page(seeded: Seeded, url: str, status: int = 200) -> BeautifulSoup:
    response = seeded.client.get(url, headers=HTML)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    return BeautifulSoup(response.text, "html.parser")


def text_of(soup: BeautifulSoup) -> str:
    return " ".join(soup.get_text(" ").split())


def test_home_lists_recent_and_popular(seeded: Seeded) -> None:
    soup = page(seeded, "/")
    assert soup.find("html")["lang"] == "en"
    assert soup.find("main") is not None
    assert soup.find("header")
    assert soup.find("footer")
    recent = soup.find("section", attrs={"aria-labelledby": "recent-title"})
    popular = soup.find("section", attrs={"aria-labelledby": "popular-title"})
    recent_names = [a.get_text() for a in recent.select(".cube-card-title a")]
    popular_names = [a.get_text() for a in popular.select(".cube-card-title a")]
    # Most recently updated first: the hostile cube was published last.
    assert recent_names[0] == "evil/hostile"
    assert set(recent_names) == {"acme/handbook", "acme/glossary", "acme/recipes", "evil/hostile"}
    # Only the handbook was downloaded.
    assert popular_names[0] == "acme/handbook"
    assert "4 cubes in 2 namespaces" in text_of(soup)


def test_every_form_control_has_a_label(seeded: Seeded) -> None:
    for url in ("/", "/search?q=handbook", "/cubes/acme/handbook", "/cubes/acme/handbook/diff"):
        soup = page(seeded, url)
        for control in soup.select("input:not([type=hidden]), select"):
            assert soup.find("label", attrs={"for": control["id"]}), (url, control)
        assert len(soup.find_all("h1")) == 1, url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/search?q=handbook", ["acme/handbook"]),
        ("/search?q=HANDB", ["acme/handbook"]),
        ("/search?q=terms+acme", ["acme/glossary"]),
        ("/search?kind=activation", ["acme/handbook"]),
        ("/search?kind=parameter", ["acme/handbook"]),
        ("/search?kind=plaintext&license=mit", ["acme/glossary"]),
        ("/search?license=Apache-2.0", []),  # evil/hostile's only version is yanked
        ("/search?model=acme/tiny-llama", ["acme/handbook"]),
        ("/search?q=glossary&kind=activation", []),
        ("/search?kind=no-such-kind", []),
    ],
)
def test_search_filters(seeded: Seeded, url: str, expected: list[str]) -> None:
    soup = page(seeded, url)
    assert [a.get_text() for a in soup.select(".cube-card-title a")] == expected


def test_search_by_model_fingerprint_link(seeded: Seeded) -> None:
    cube = page(seeded, "/cubes/acme/handbook")
    link = cube.select_one("details.model a[href^='/search?model=']")
    results = page(seeded, link["href"])
    assert [a.get_text() for a in results.select(".cube-card-title a")] == ["acme/handbook"]
    # The licence suggestions come from the published manifests.
    options = [o["value"] for o in results.select("#license-choices option")]
    assert "MIT" in options
    assert "CC-BY-4.0" in options


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "NEAR(a b)",
        "handbook OR 1=1; DROP TABLE cube; --",
        "' OR ''='",
        "%00\x01\x7f",
        "x" * 5000,
        "🧠 memória ünïcode",
        "-",
        "a" + " b" * 300,
        HOSTILE,
    ],
)
def test_any_search_string_is_handled(seeded: Seeded, query: str) -> None:
    response = seeded.client.get("/search", params={"q": query}, headers=HTML)
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    soup = BeautifulSoup(response.text, "html.parser")
    # The query is echoed back into the form, inert.
    assert soup.select_one("#q")["value"] == query.strip()[:500]


def test_search_without_words_lists_everything(seeded: Seeded) -> None:
    soup = page(seeded, "/search?q=%21%21%21")
    assert "has no words" in text_of(soup)
    assert len(soup.select(".cube-card")) == 4


def test_search_page_numbers_are_lenient(seeded: Seeded) -> None:
    for value in ("abc", "-1", "0", "99999999999", "9999"):
        soup = page(seeded, f"/search?q=acme&page={value}")
        assert soup.find("h1").get_text() == "Search cubes"


def test_cube_page_shows_everything(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/handbook")
    main = text_of(soup.find("main"))
    assert soup.find("h1").get_text(" ", strip=True).startswith("acme/handbook 1.1.0")
    assert "The MemOS handbook: memory types, lifecycle and the scheduler." in main
    # Parts with kinds, sizes and model fingerprints.
    rows = soup.select("table.parts tbody tr")
    kinds = [row.select_one(".kind").get_text() for row in rows]
    assert sorted(kinds) == ["activation", "parameter", "plaintext"]
    assert "3 memories" in main
    assert all(
        re.search(r"\d+(\.\d)? (B|KiB)", row.select_one("td.num").get_text()) for row in rows
    )
    assert main.count("Model acme/tiny-llama @ main") == 2
    assert "LoRA adapter, rank 4, targets q_proj, v_proj" in main
    # Dependencies link to known cubes.
    dependency = soup.select_one(".dependencies a")
    assert dependency["href"] == "/cubes/acme/glossary"
    assert ">=1.0,<2" in main
    # Signatures verify against the namespace's registered key.
    assert "✓ Signed by a key registered for acme" in main
    assert seeded.key.key_id[:16] in main
    assert "verifies" in main
    assert "does not verify" not in main
    # Licence, governance, downloads, install line.
    assert "CC-BY-4.0" in main
    assert "86,400 seconds" in main
    assert "Sensitivity public" in main
    assert "2 of this version, 2 in all" in main
    assert soup.select_one("#install-line").get_text() == "memos install acme/handbook"
    button = soup.select_one("button.copy-button")
    assert button.has_attr("hidden")  # shown by copy.js only: no dead button without JavaScript
    # Versions, newest first, with the diff link.
    assert [a.get_text() for a in soup.select("table.versions tbody th a")] == ["1.1.0", "1.0.0"]
    assert soup.select_one("a.diff-link")["href"] == "/cubes/acme/handbook/diff?from=1.0.0&to=1.1.0"


def test_older_version_page_pins_the_install_line(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/handbook/versions/1.0.0")
    assert soup.select_one("#install-line").get_text() == "memos install acme/handbook==1.0.0"
    assert "You are looking at an older version" in text_of(soup)
    assert soup.select_one("table.versions tr.current a").get_text() == "1.0.0"


def test_yanked_version_is_flagged(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/evil/hostile")
    main = text_of(soup.find("main"))
    assert "This version is yanked." in main
    assert "Reason: bad <b>reason</b>." in main
    assert soup.select_one("table.versions .badge-warn").get_text() == "yanked"
    assert soup.select_one("#install-line").get_text() == "memos install evil/hostile==0.1.0"


def test_hostile_text_is_rendered_inert(seeded: Seeded) -> None:
    for url in ("/cubes/evil/hostile", "/cubes/acme/handbook/diff", "/", "/search?q=hostile"):
        response = seeded.client.get(url, headers=HTML)
        assert response.status_code == 200
        assert "<script>alert" not in response.text
        assert "<img src=x" not in response.text
        assert "<b>reason" not in response.text
        soup = BeautifulSoup(response.text, "html.parser")
        # The only script is ours; no element carries an event handler.
        assert [s.get("src") for s in soup.find_all("script")] == ["/static/copy.js"]
        assert not [
            tag for tag in soup.find_all(True) if any(a.startswith("on") for a in tag.attrs)
        ]
    description = page(seeded, "/cubes/evil/hostile").select_one("p.description").get_text()
    assert description == f"Hostile description {HOSTILE}"


def test_diff_shows_memory_and_part_changes(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/handbook/diff?from=1.0.0&to=1.1.0")
    assert soup.find("h1").get_text() == "acme/handbook: 1.0.0 → 1.1.0"
    added = [h.get_text() for h in soup.select(".memory-added .memory-id")]
    removed = [h.get_text() for h in soup.select(".memory-removed .memory-id")]
    changed = [h.get_text() for h in soup.select(".memory-changed .memory-id")]
    assert (added, removed, changed) == (["new-note"], ["old-note"], ["kv-cache"])
    assert (
        soup.select_one(".memory-added .memory-text").get_text()
        == f"A memory with markup: {HOSTILE}"
    )
    assert [i.get_text().strip() for i in soup.select(".memory-changed ins")] == ["precomputed"]
    summary = text_of(soup.select_one(".diff-summary"))
    assert summary == "1 memory added 1 removed 1 changed 1 unchanged"
    statuses = {
        row.find("th").get_text(): row.select_one(".status").get_text()
        for row in soup.select("table.parts-diff tbody tr")
    }
    assert statuses == {"kv-prefix": "unchanged", "memories": "changed", "style-lora": "added"}


def test_diff_defaults_and_reverse(seeded: Seeded) -> None:
    soup = page(seeded, "/cubes/acme/handbook/diff")
    assert soup.find("h1").get_text() == "acme/handbook: 1.0.0 → 1.1.0"
    reverse = page(seeded, "/cubes/acme/handbook/diff?from=1.1.0&to=1.0.0")
    assert [h.get_text() for h in reverse.select(".memory-added .memory-id")] == ["old-note"]
    assert [r.find("th").get_text() for r in reverse.select("tr.part-removed")] == ["style-lora"]
    same = page(seeded, "/cubes/acme/handbook/diff?from=1.1.0&to=1.1.0")
    assert text_of(same.select_one(".diff-summary")).startswith("0 memories added")


def test_namespace_page(seeded: Seeded) -> None:
    soup = page(seeded, "/namespaces/acme")
    assert soup.find("h1").get_text() == "Namespace acme"
    assert [a.get_text() for a in soup.select(".cube-card-title a")] == [
        "acme/glossary",
        "acme/handbook",
        "acme/recipes",
    ]
    assert seeded.key.key_id in text_of(soup.select_one(".key-list"))
    # Namespaces are matched by their normal form, as the API does.
    assert page(seeded, "/namespaces/ACME").find("h1").get_text() == "Namespace acme"


@pytest.mark.parametrize(
    "url",
    [
        "/cubes/acme/nope",
        "/cubes/nope/handbook",
        "/cubes/acme/handbook/versions/9.9.9",
        "/cubes/acme/handbook/versions/not-a-version",
        "/cubes/acme/handbook/diff?from=1.0.0&to=7.0.0",
        "/cubes/acme/handbook/diff?from=%3Cscript%3E&to=1.1.0",
        "/cubes/%3Cscript%3E/x",
        "/cubes/a..b/c",
        "/namespaces/nobody",
        "/namespaces/%3Cscript%3E",
        "/no/such/page",
    ],
)
def test_unknown_things_get_an_html_404(seeded: Seeded, url: str) -> None:
    response = seeded.client.get(url, headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in response.text
    assert "<script>" not in response.text.split("</head>")[1]
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.find("h1").get_text() == "Not found"
    assert soup.select_one("main a[href='/']")


def test_api_404s_stay_json(seeded: Seeded) -> None:
    # (Not /v1/cubes/{ns}/{name}: on PostgreSQL that hot read opens asyncio connections that
    # outlive TestClient's event loop.)
    response = seeded.client.get("/v1/cubes/acme/nope/versions/1.0.0", headers=HTML)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "cube_not_found"
    response = seeded.client.get("/no/such/page", headers={"accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_static_files_are_served_locally(seeded: Seeded) -> None:
    soup = page(seeded, "/")
    for tag, attribute in (("link", "href"), ("script", "src")):
        for element in soup.find_all(tag):
            url = element.get(attribute)
            if url and not url.startswith("data:"):
                assert url.startswith("/static/"), url
                assert seeded.client.get(url).status_code == 200
    css = seeded.client.get("/static/style.css").text
    assert "@media (max-width: 720px)" in css
    assert "http" not in css  # nothing fetched from elsewhere
