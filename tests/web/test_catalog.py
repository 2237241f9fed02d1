"""The catalog services behind the pages: facets and their backfill, the bounded memory diff."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import Engine, text

from mip.digests import digest_bytes
from mip.manifest import manifest_from_document
from mip.records import write_records
from registry_server.db.session import create_db_engine, init_schema
from registry_server.services import derived, version_diff
from registry_server.services.blobs import blob_key
from registry_server.services.catalog.choices import FacetChoicesCache
from registry_server.services.catalog.views import ManifestView, backfill_views, manifest_view
from registry_server.services.derived import plaintext_summary
from registry_server.services.facets import prepare_catalog
from registry_server.services.storage import LocalBlobStore
from tests.web.conftest import Seeded

STAMP = "2026-01-01T00:00:00Z"


def _facets(engine: Any, table: str = "version_facet") -> list[tuple[Any, ...]]:
    key = "version_id" if table == "version_facet" else "cube_id"
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(f"SELECT {key}, facet, value, label FROM {table} ORDER BY 1, 2, 3")  # noqa: S608
            )
        ]


def test_publish_writes_facets_and_backfill_restores_them(seeded: Seeded) -> None:
    engine = create_db_engine(seeded.settings.resolved_database_url(), 1)
    try:
        written = _facets(engine)
        latest = _facets(engine, "cube_facet")
        # cube_facet follows latest versions: the handbook's 1.1.0 has a parameter part, the
        # all-yanked evil/hostile has no facets at all.
        assert {(facet, value) for _, facet, value, _ in latest} >= {("kind", "parameter")}
        assert len({cube for cube, *_ in latest}) == 3
        facets = {(facet, value) for _, facet, value, _ in written}
        assert ("kind", "activation") in facets
        assert ("model_id", "acme/tiny-llama") in facets
        assert ("license", "mit") in facets  # licences match case-insensitively
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM cube_facet"))
            connection.execute(text("DELETE FROM version_facet"))
        assert prepare_catalog(engine) == 7  # every published version
        assert _facets(engine) == written
        assert _facets(engine, "cube_facet") == latest
        assert prepare_catalog(engine) == 0  # idempotent
    finally:
        engine.dispose()


def test_publish_stores_views_and_backfill_restores_them(seeded: Seeded) -> None:
    engine = create_db_engine(seeded.settings.resolved_database_url(), 1)
    query = text("SELECT version_id, view_format, document FROM version_view ORDER BY 1")
    try:
        with engine.connect() as connection:
            written = [tuple(row) for row in connection.execute(query)]
            versions = connection.execute(text("SELECT count(*) FROM cube_version")).scalar_one()
        assert len(written) == versions  # every published version
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM version_view"))
        assert backfill_views(engine) == versions
        with engine.connect() as connection:
            assert [tuple(row) for row in connection.execute(query)] == written
        with engine.begin() as connection:  # an older format is derived again
            connection.execute(text("UPDATE version_view SET view_format = 0"))
        assert backfill_views(engine) == versions
        assert backfill_views(engine) == 0  # idempotent
    finally:
        engine.dispose()


def test_filter_suggestions_are_cached_per_app_for_their_ttl(seeded: Seeded) -> None:
    engine = create_db_engine(seeded.settings.resolved_database_url(), 1)
    now = [0.0]
    cache = FacetChoicesCache(engine, ttl_seconds=60, clock=lambda: now[0])
    try:
        first = cache.get()
        assert "mit" in [choice.value for choice in first["license"]]
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO cube_facet (facet, value, cube_id, label) "
                    "SELECT 'license', 'zz-new', min(id), 'ZZ-New' FROM cube"
                )
            )
        try:
            now[0] = 59.0
            assert cache.get() is first  # still fresh
            now[0] = 61.0
            assert "zz-new" in [choice.value for choice in cache.get()["license"]]
        finally:
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM cube_facet WHERE value = 'zz-new'"))
        # The app holds its own cache (made by the factory), not a module-level one.
        state = seeded.client.app.state.registry  # type: ignore[attr-defined]
        assert isinstance(state.facet_choices, FacetChoicesCache)
        assert state.facet_choices is not cache
    finally:
        engine.dispose()


def test_yank_and_unyank_move_the_filters(seeded: Seeded) -> None:
    headers = {"authorization": f"Bearer {seeded.tokens['acme']}"}
    client = seeded.client

    def found(url: str) -> list[str]:
        soup = BeautifulSoup(client.get(url).text, "html.parser")
        return [a.get_text() for a in soup.select(".cube-card-title a")]

    assert found("/search?kind=parameter") == ["acme/handbook"]
    yanked = client.post(
        "/v1/cubes/acme/handbook/versions/1.1.0/yank", json={"reason": "test"}, headers=headers
    )
    assert yanked.status_code == 200
    try:
        # 1.0.0 is the latest now: it has no adapter.
        assert found("/search?kind=parameter") == []
        assert found("/search?kind=activation") == ["acme/handbook"]
    finally:
        answer = client.post("/v1/cubes/acme/handbook/versions/1.1.0/unyank", headers=headers)
        assert answer.status_code == 200
    assert found("/search?kind=parameter") == ["acme/handbook"]


def _record(memory_id: str, text_value: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": memory_id,
        "text": text_value,
        "tags": tags or [],
        "metadata": {},
        "created": STAMP,
        "updated": STAMP,
        "version": 1,
    }


def _manifest(store: LocalBlobStore, version: str, blob: bytes, count: int) -> ManifestView:
    digest = digest_bytes(blob)
    writer = store.writer(blob_key(digest))
    writer.write(blob)
    writer.commit()
    return manifest_view(
        manifest_from_document(
            {
                "mip_version": "1.0",
                "name": "t/diff",
                "version": version,
                "created": STAMP,
                "parts": [
                    {
                        "name": "memories",
                        "kind": "plaintext",
                        "digest": digest,
                        "size": len(blob),
                        "count": count,
                    }
                ],
            }
        ),
        [],
    )


def _blob(records: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    write_records(buffer, records)
    return buffer.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'registry.db'}", 1)
    init_schema(engine)
    yield engine
    engine.dispose()


def _diff(
    engine: Engine, store: LocalBlobStore, old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> Any:
    old_manifest = _manifest(store, "1.0.0", _blob(old), len(old))
    new_manifest = _manifest(store, "2.0.0", _blob(new), len(new))
    result = version_diff.VersionDiff("t/diff", "1.0.0", "2.0.0", [], [])
    version_diff.diff_memories(engine, store, old_manifest, new_manifest, result)
    return result


def test_memory_diff_shows_what_changed(engine: Engine, store: LocalBlobStore) -> None:
    old = [_record("a", "alpha"), _record("b", "beta one"), _record("c", "gamma", ["x"])]
    new = [_record("b", "beta two"), _record("c", "gamma", ["y"]), _record("d", "delta")]
    result = _diff(engine, store, old, new)
    assert [(m.id, m.new_text, m.unread) for m in result.added] == [("d", "delta", False)]
    assert [(m.id, m.old_text) for m in result.removed] == [("a", "alpha")]
    changed = {m.id: m for m in result.changed}
    assert changed["b"].changed_fields == ["text"]
    assert changed["b"].segments == [("equal", "beta "), ("delete", "one"), ("insert", "two")]
    assert changed["c"].changed_fields == ["tags"]
    assert changed["c"].old_record["tags"] == ["x"]
    assert (result.added_total, result.removed_total, result.changed_total) == (1, 1, 2)


def test_memory_diff_is_bounded(
    engine: Engine, store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(version_diff, "MAX_RECORDS", 50)
    monkeypatch.setattr(version_diff, "MAX_SHOWN", 5)
    monkeypatch.setattr(version_diff, "MAX_TEXT_CHARS", 10)
    old = [_record(f"m{i}", "x" * 100) for i in range(80)]
    new = [_record(f"n{i}", "y" * 100) for i in range(80)]
    result = _diff(engine, store, old, new)
    assert result.truncated
    assert result.added_total == 50
    assert len(result.added) == 5
    assert result.added[0].new_text == "y" * 10 + "…"


def test_memory_diff_reads_at_most_its_budget(
    engine: Engine, store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = [_record(f"m{i}", f"old text {i} " + "x" * 1000) for i in range(40)]
    new = [_record(f"m{i}", f"new text {i} " + "x" * 1000) for i in range(40)]
    reads: list[tuple[int, int | None]] = []
    real_read = store.read

    def counting_read(key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        reads.append((start, end))
        return real_read(key, start, end)

    old_manifest = _manifest(store, "1.0.0", _blob(old), len(old))
    new_manifest = _manifest(store, "2.0.0", _blob(new), len(new))
    # The summaries were derived at publish: the diff itself reads only records it shows.
    for manifest in (old_manifest, new_manifest):
        plaintext_summary(engine, store, manifest.parts[0].digest)
    monkeypatch.setattr(store, "read", counting_read)
    monkeypatch.setattr(version_diff, "TEXT_BUDGET_BYTES", 5_000)
    result = version_diff.VersionDiff("t/diff", "1.0.0", "2.0.0", [], [])
    version_diff.diff_memories(engine, store, old_manifest, new_manifest, result)
    assert result.changed_total == 40
    assert sum((end or 0) - start for start, end in reads) <= 5_000
    assert all(end is not None for _, end in reads)  # never a whole blob
    shown = [change for change in result.changed if not change.unread]
    assert 0 < len(shown) < 40
    assert shown[0].id == "m0"
    assert shown[0].segments == [("delete", "old "), ("insert", "new "), ("equal", "text 0 " + "x" * 1000)]  # fmt: skip
    assert all(change.new_text is None for change in result.changed if change.unread)


def test_memory_diff_reports_an_undecodable_blob(engine: Engine, store: LocalBlobStore) -> None:
    old_manifest = _manifest(store, "1.0.0", _blob([_record("a", "alpha")]), 1)
    new_manifest = _manifest(store, "2.0.0", b"\xc1 not msgpack", 1)
    result = version_diff.VersionDiff("t/diff", "1.0.0", "2.0.0", [], [])
    version_diff.diff_memories(engine, store, old_manifest, new_manifest, result)
    assert result.problem is not None
    assert result.problem.startswith(
        "memories could not be decoded: part 'memories' of 2.0.0: record 0"
    )


def test_chunk_reader_reassembles_any_read_sizes() -> None:
    data = bytes(range(256)) * 10
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    reader = derived._ChunkReader(iter(chunks))
    pieces = [reader.read(size) for size in (1, 5, 64, 300, 0, 1000)]
    pieces.append(reader.read())
    assert b"".join(pieces) == data
    assert reader.read(10) == b""


def test_diff_cache_evicts_least_recently_used() -> None:
    cache = version_diff.DiffCache(size=2)
    diffs = [version_diff.VersionDiff("t/x", "1", str(i), [], []) for i in range(3)]
    cache.put(("a", "1"), diffs[0])
    cache.put(("a", "2"), diffs[1])
    assert cache.get(("a", "1")) is diffs[0]  # now most recently used
    cache.put(("a", "3"), diffs[2])
    assert cache.get(("a", "2")) is None
    assert cache.get(("a", "1")) is diffs[0]
