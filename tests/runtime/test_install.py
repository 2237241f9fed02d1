"""install_cube / uninstall_cube / installed_cubes: the contract `memos install` relies on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memos_client.errors import NotFoundError, RuntimeStoreError, UsageError
from memos_client.runtime import HashingEmbedder, MemOS, State
from memos_client.runtime.embedding.minilm import Vectors

DIGEST_1 = "sha256:" + "1" * 64
DIGEST_2 = "sha256:" + "2" * 64


def test_install_replace_and_uninstall(mem: MemOS) -> None:
    records = [
        {"id": "a", "text": "Alpha fact.", "tags": ["t"], "metadata": {"k": 1}},
        {"id": "b", "text": "Beta fact.", "tags": [], "metadata": {}},
        {"text": "A record without an id.", "tags": [], "metadata": {}},
    ]
    assert (
        mem.install_cube(
            "Acme/KB",
            "1.0.0",
            DIGEST_1,
            records,
            parts=[{"name": "kv", "kind": "activation", "path": "/tmp/kv", "sources": []}],
        )
        == 3
    )
    [cube] = mem.installed_cubes()
    assert (cube.name, cube.version, cube.manifest_digest, cube.memory_count) == (
        "acme/kb",
        "1.0.0",
        DIGEST_1,
        3,
    )
    assert cube.installed_at.endswith("Z")
    assert cube.parts[0]["path"] == "/tmp/kv"
    untouched = mem.get("acme/kb#b", touch=False)
    assert (
        mem.install_cube(
            "acme/kb",
            "1.1.0",
            DIGEST_2,
            [
                {"id": "a", "text": "Alpha fact, revised.", "tags": ["t"], "metadata": {"k": 1}},
                {"id": "b", "text": "Beta fact.", "tags": [], "metadata": {}},
            ],
        )
        == 2
    )
    assert mem.get("acme/kb#a").version == 2
    assert mem.get("acme/kb#b", touch=False).version == untouched.version
    removed = [v for v in mem.history("acme/kb") if v.state == State.DELETED]
    assert len(removed) == 1
    assert mem.installed_cubes()[0].parts == []
    assert mem.uninstall_cube("acme/kb") == 2
    assert mem.installed_cubes() == []
    assert mem.search("Alpha fact", k=5) == []
    assert len(mem.history("acme/kb")) == 7
    with pytest.raises(NotFoundError, match="not installed"):
        mem.uninstall_cube("acme/kb")


def test_a_new_version_keeps_the_memories_added_to_the_cube_locally(mem: MemOS) -> None:
    mem.install_cube(
        "acme/kb", "1.0.0", DIGEST_1, [{"id": "a", "text": "Alpha."}, {"id": "b", "text": "Beta."}]
    )
    mine = mem.add("My own note about okapis.", cube="acme/kb")
    mem.install_cube("acme/kb", "1.1.0", DIGEST_2, [{"id": "a", "text": "Alpha, revised."}])
    assert mem.get(mine, touch=False).state != State.DELETED
    assert mine in [hit.item.id for hit in mem.search("okapis", k=5)]
    with pytest.raises(NotFoundError, match="is deleted"):  # the publisher dropped it
        mem.get("acme/kb#b", touch=False)
    assert [c.memory_count for c in mem.installed_cubes()] == [2]


def test_a_bad_install_changes_nothing(mem: MemOS) -> None:
    mem.install_cube("acme/kb", "1.0.0", DIGEST_1, [{"id": "a", "text": "Alpha."}])
    before = mem.store.query("SELECT COUNT(*) FROM versions")[0][0]
    bad_inputs = [
        ("acme kb", "1.0.0", DIGEST_2, [], None, None),
        ("acme/kb", "", DIGEST_2, [], None, None),
        ("acme/kb", "2.0.0", DIGEST_2, [{"id": "a", "text": ""}], None, None),
        (
            "acme/kb",
            "2.0.0",
            DIGEST_2,
            [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}],
            None,
            None,
        ),
        ("acme/kb", "2.0.0", DIGEST_2, [{"text": "x"}, {"text": "x"}], None, None),
        ("acme/kb", "2.0.0", DIGEST_2, [], {"access": {"read": "everyone"}}, None),
        ("acme/kb", "2.0.0", DIGEST_2, [], None, [{"kind": "activation"}]),
    ]
    for args in bad_inputs:
        with pytest.raises(UsageError):
            mem.install_cube(*args)
    assert mem.store.query("SELECT COUNT(*) FROM versions")[0][0] == before
    assert mem.installed_cubes()[0].version == "1.0.0"
    assert mem.get("acme/kb#a").text == "Alpha."


def test_two_cubes_may_share_record_ids(mem: MemOS) -> None:
    mem.install_cube("acme/one", "1.0.0", DIGEST_1, [{"id": "x", "text": "One."}])
    mem.install_cube("acme/two", "1.0.0", DIGEST_2, [{"id": "x", "text": "Two."}])
    assert mem.get("acme/one#x").text == "One."
    assert mem.get("acme/two#x").text == "Two."


def test_installing_listing_and_removing_a_cube_never_load_numpy(tmp_path: Path) -> None:
    # `memos install` of a cube without memories (KV snapshots, adapters) pays neither NumPy's
    # import nor the embedder's; a fresh interpreter shows what the runtime really imports.
    script = textwrap.dedent(
        f"""
        import sys
        from memos_client.runtime import MemOS

        with MemOS({str(tmp_path / "home")!r}) as mem:
            parts = [{{"name": "kv", "kind": "activation", "path": "/tmp/kv", "sources": []}}]
            assert mem.install_cube("acme/kv", "1.0.0", {DIGEST_1!r}, [], parts=parts) == 0
            assert [c.name for c in mem.installed_cubes()] == ["acme/kv"]
            assert mem.uninstall_cube("acme/kv") == 0
        assert "numpy" not in sys.modules, "the install path imported numpy"
        with MemOS({str(tmp_path / "home")!r}, embedder="hashing") as mem:
            mem.add("now a memory is embedded")
            assert [h.item.text for h in mem.search("memory", k=1)] == ["now a memory is embedded"]
        assert "numpy" in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[2])


def test_engines_are_built_once_and_shared_by_principals(mem: MemOS) -> None:
    mem.add_principal("bob")
    bob = mem.acting_as("bob")
    assert bob.index is mem.index
    assert bob.retriever is mem.retriever
    assert bob.embedder is mem.embedder


def test_an_unknown_embedder_is_refused_when_the_runtime_opens(tmp_path: Path) -> None:
    with pytest.raises(RuntimeStoreError, match="unknown embedder 'word2vec'"):
        MemOS(tmp_path / "home", embedder="word2vec")


class RecordingEmbedder(HashingEmbedder):
    """The hashing embedder, recording every use (its name is what every cache lookup needs)."""

    def __init__(self, dimension: int = 384) -> None:
        super().__init__(dimension)
        self.uses: list[str] = []

    @property
    def name(self) -> str:
        self.uses.append("name")
        return super().name

    def embed(self, texts: list[str]) -> Vectors:
        self.uses.extend(texts)
        return super().embed(texts)


RECORDS = [
    {"id": "a", "text": "Alpha fact.", "tags": [], "metadata": {}},
    {"id": "b", "text": "Beta fact.", "tags": [], "metadata": {"speaker": "Bo"}},
]


def test_an_install_embeds_only_texts_new_to_the_cube(tmp_path: Path) -> None:
    embedder = RecordingEmbedder()
    with MemOS(tmp_path / "home", embedder=embedder) as mem:
        mem.install_cube("acme/kb", "1.0.0", DIGEST_1, RECORDS)
        assert [u for u in embedder.uses if u != "name"] == ["Alpha fact.", "Bo: Beta fact."]
        mem.uninstall_cube("acme/kb")
        embedder.uses.clear()
        mem.install_cube("acme/kb", "1.0.0", DIGEST_1, RECORDS)  # a reinstall: nothing new
        assert embedder.uses == []
        changed = [RECORDS[0], {**RECORDS[1], "text": "Beta fact, revised."}]
        mem.install_cube("acme/kb", "1.1.0", DIGEST_2, changed)
        assert [u for u in embedder.uses if u != "name"] == ["Bo: Beta fact, revised."]
        assert [h.item.id for h in mem.search("alpha fact", k=1)] == ["acme/kb#a"]


def test_memories_installed_under_another_embedder_are_embedded_by_the_first_search(
    tmp_path: Path,
) -> None:
    with MemOS(tmp_path / "home", embedder=HashingEmbedder(384)) as mem:
        mem.install_cube("acme/kb", "1.0.0", DIGEST_1, RECORDS)
        mem.uninstall_cube("acme/kb")
    other = RecordingEmbedder(256)  # another name: none of the cached vectors are its own
    with MemOS(tmp_path / "home", embedder=other) as mem:
        mem.install_cube("acme/kb", "1.0.0", DIGEST_1, RECORDS)
        assert other.uses == []
        hits = mem.search("beta", k=2)
        assert "Bo: Beta fact." in other.uses
        assert hits[0].item.id == "acme/kb#b"
