"""Purge: a memory's text erased from every version and every index, for good (issue #19)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memos_client.errors import AccessDeniedError, UsageError
from memos_client.runtime import MemOS

SECRET = "my bank password is zebra-umbrella-4471"


def _raw_bytes(home: Path) -> bytes:
    """Every byte the runtime keeps on disk: database, WAL, saved graphs."""
    return b"".join(
        path.read_bytes() for path in sorted((home / "runtime").rglob("*")) if path.is_file()
    )


def test_purge_erases_the_text_from_every_version_and_index(tmp_path: Path, mem: MemOS) -> None:
    keep = mem.add("the garden needs water on Sundays", cube="me/notes")
    secret = mem.add(SECRET, cube="me/notes", tags=["zebra"], metadata={"note": "umbrella"})
    mem.update(secret, text=SECRET + " and the PIN is 9931")
    first_change = mem.history("me/notes")[0].seq
    # (queries are audit-logged as asked: these name no word of the secret but "password")
    assert mem.search("what is my bank password?", cube="me/notes")[0].item.id == secret
    report = mem.purge(secret)
    assert (report.purged, report.versions) == ([secret], 2)
    # every version, every index, the embedding cache
    assert [(v.op, v.text, v.tags, v.metadata) for v in mem.history(secret)] == [
        ("add", "", [], {}),
        ("update", "", [], {}),
        ("purge", "", [], {}),
    ]
    hits = mem.search("what is my bank password?", cube="me/notes")
    assert [hit.item.id for hit in hits] == [keep]
    assert mem.store.query("SELECT rowid FROM items_fts WHERE items_fts MATCH 'zebra'") == []
    # no rollback brings it back
    mem.rollback("me/notes", to=first_change)
    assert mem.history(secret)[-1].op == "purge"
    assert [hit.item.id for hit in mem.search("bank password", cube="me/notes")] == [keep]
    # the tombstone says who and when, never the text
    [tombstone] = [dict(r) for r in mem.store.query("SELECT * FROM purges")]
    assert (tombstone["item_id"], tombstone["principal"], tombstone["versions"]) == (
        secret,
        "local",
        2,
    )
    [entry] = [e for e in mem.audit() if e["action"] == "purge"]
    assert (entry["target"], entry["detail"]) == (secret, "1 memories, 2 versions erased")
    mem.close()
    # nor is it anywhere in the files (free pages are zeroed, the WAL truncated)
    raw = _raw_bytes(tmp_path / "home")
    assert b"zebra" not in raw
    assert b"umbrella" not in raw
    assert b"9931" not in raw
    assert b"garden" in raw


def test_purging_needs_the_admin_right_and_spares_installed_cubes(mem: MemOS) -> None:
    mem.add_principal("alice")
    item = mem.add(SECRET, cube="me/notes")
    with pytest.raises(AccessDeniedError, match="may not change the access policy"):
        mem.acting_as("alice").purge(item)
    mem.install_cube(
        "acme/faq", "1.0.0", "sha256:" + "a" * 64, [{"id": "q", "text": "Opening hours: 9-5."}]
    )
    with pytest.raises(UsageError, match="came from installed cube acme/faq"):
        mem.purge("acme/faq#q")
    with pytest.raises(UsageError, match="not both"):
        mem.purge(item, cube="me/notes")
    report = mem.purge(cube="me/notes")
    assert report.purged == [item]
