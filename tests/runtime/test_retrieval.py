"""Hybrid retrieval with the real all-MiniLM-L6-v2: lexical, semantic, filters, fusion, indexes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from memos_client.runtime import Filters, MemOS, RetrievalSettings
from memos_client.runtime.memory_types import utc_now
from tests.runtime.conftest import CountingEmbedder


def test_semantic_finds_a_paraphrase_with_no_shared_word(mem: MemOS, facts: list[str]) -> None:
    hits = mem.search("feline napping", k=3)
    assert hits[0].item.id == facts[0]
    assert "semantic" in hits[0].retrievers
    assert "lexical" not in hits[0].ranks  # no shared content word: only the model found it


def test_lexical_finds_a_rare_exact_term(mem: MemOS, facts: list[str]) -> None:
    hits = mem.search("cello", k=3)
    assert hits[0].item.id == facts[4]
    assert hits[0].ranks.get("lexical") == 1


def test_speaker_metadata_is_searchable(mem: MemOS, facts: list[str]) -> None:
    hits = mem.search("what did Ben say about travel plans", k=2)
    assert {hit.item.id for hit in hits} <= {facts[1], facts[3], facts[5]}


def test_tag_metadata_and_time_filters(mem: MemOS, facts: list[str]) -> None:
    travel = mem.search("something", k=10, filters={"tags": ["travel"]})
    assert {hit.item.id for hit in travel} == {facts[1], facts[5]}
    ann = mem.search("something", k=10, filters={"metadata": {"speaker": "Ann"}})
    assert {hit.item.id for hit in ann} == {facts[0], facts[2], facts[4]}
    future = mem.search("cat", k=10, filters={"since": utc_now() + timedelta(days=1)})
    assert future == []
    past = mem.search("cat", k=10, filters={"until": utc_now() + timedelta(seconds=5)})
    assert past


def test_search_scoped_to_a_cube_never_returns_another_cubes_items(mem: MemOS) -> None:
    mine = mem.add_many(
        [{"text": f"secret plan number {i} for the launch"} for i in range(5)], cube="a/one"
    )
    mem.add_many(
        [{"text": f"secret plan number {i} for the launch"} for i in range(5)], cube="b/two"
    )
    hits = mem.search("secret launch plan", k=10, cube="a/one")
    assert {hit.item.id for hit in hits} == set(mine)
    assert all(hit.item.cube == "a/one" for hit in hits)


def test_cube_scoping_holds_with_the_in_memory_indexes(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    big = MemOS(home=tmp_path, embedder=embedder, ann_threshold=10, lexical_threshold=10)
    records = [{"text": f"secret plan number {i} for the launch"} for i in range(12)]
    mine = big.add_many(records, cube="a/one")
    theirs = big.add_many(records, cube="b/two")
    hits = big.search("secret launch plan", k=20, cube="a/one")
    assert big.index._ann is not None
    assert big.retriever.lexical_index is not None
    assert big.retriever.lexical_index.active
    assert {hit.item.id for hit in hits} == set(mine)
    everywhere = {hit.item.id for hit in big.search("secret launch plan", k=24)}
    assert everywhere == set(mine) | set(theirs)
    big.close()


def test_deletes_and_updates_reach_every_index(mem: MemOS, facts: list[str]) -> None:
    mem.delete(facts[0])
    assert facts[0] not in {hit.item.id for hit in mem.search("Luna windowsill cat", k=10)}
    mem.update(facts[4], text="I gave up the cello and took up rock climbing.")
    hits = mem.search("bouldering on a climbing wall", k=1)
    assert hits[0].item.id == facts[4]
    assert (
        mem.store.query("SELECT COUNT(*) FROM items_fts WHERE items_fts MATCH 'windowsill'")[0][0]
        == 0
    )
    mem.store.query("INSERT INTO items_fts (items_fts) VALUES ('integrity-check')")


def test_ann_index_when_large_and_deletes_reach_it(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    mem = MemOS(home=tmp_path, embedder=embedder, ann_threshold=20)
    ids = mem.add_many(
        [{"text": f"Note {i}: the meeting about topic {i} went fine."} for i in range(30)]
        + [{"text": "The red kite circled above the hill."}],
        cube="me/many",
    )
    hits = mem.search("a bird of prey flying", k=3)
    assert mem.index._ann is not None  # the hnswlib graph served this query
    assert hits[0].item.id == ids[-1]
    mem.delete(ids[-1])
    assert ids[-1] not in {hit.item.id for hit in mem.search("a bird of prey flying", k=5)}
    mem.close()
    # A new process starts from the saved graph and replays only later changes.
    again = MemOS(home=tmp_path, embedder=embedder, ann_threshold=20)
    assert ids[-1] not in {hit.item.id for hit in again.search("a bird of prey flying", k=5)}
    assert again.index.ann_loaded
    assert again.search("meeting about topic 7", k=1)[0].item.id == ids[7]
    again.close()


def test_embeddings_are_cached_by_text(mem: MemOS, embedder: CountingEmbedder) -> None:
    before = embedder.embedded
    mem.add_many(
        [{"text": "same words"}, {"text": "same words"}, {"text": "other words"}], cube="me/c"
    )
    assert embedder.embedded - before == 2
    mem.add("same words", cube="me/d")
    assert embedder.embedded - before == 2


def test_another_process_changes_reach_this_index(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    first = MemOS(home=tmp_path, embedder=embedder)
    second = MemOS(home=tmp_path, embedder=embedder)
    assert first.search("kite", k=1) == []
    item_id = second.add("The red kite circled above the hill.", cube="me/x")
    assert first.search("a bird of prey flying", k=1)[0].item.id == item_id
    second.delete(item_id)
    assert first.search("a bird of prey flying", k=1) == []
    first.close()
    second.close()


def test_retriever_modes_and_rrf(mem: MemOS, facts: list[str]) -> None:
    mem.retriever.settings = RetrievalSettings(retrievers=("lexical",))
    assert mem.search("feline napping", k=3) == []
    mem.retriever.settings = RetrievalSettings(fusion="rrf", context_weight=0)
    assert mem.search("cello lessons", k=1)[0].item.id == facts[4]


def test_conversation_neighbours_join_the_results(mem: MemOS) -> None:
    turns = [
        "Did you get anything nice at the market?",
        "Yes! A hand-carved wooden bowl from an old woodworker.",
        "Lovely. How was the weather yesterday?",
        "Sunny and warm the whole day.",
    ]
    ids = mem.add_many(
        [{"text": t, "metadata": {"session": 1, "turn": i}} for i, t in enumerate(turns)],
        cube="me/chat",
    )
    hits = mem.search("what did they buy at the market", k=3)
    assert ids[1] in {hit.item.id for hit in hits}


def test_in_memory_bm25_ranks_like_fts5(tmp_path: Path, embedder: CountingEmbedder) -> None:
    records = [
        {"text": f"{who} {verb} the {thing} in {place}", "tags": [place.lower()]}
        for who in ("Ava", "Ben", "Chloe")
        for verb in ("painted", "repaired", "sold")
        for thing in ("old bicycle", "garden shed", "vintage camera")
        for place in ("Lisbon", "Kyoto")
    ]
    big = MemOS(home=tmp_path, embedder=embedder, lexical_threshold=10)
    ids = big.add_many(records, cube="me/things")
    filters = Filters()
    where, parameters = filters.sql(None)
    queries = ("Who painted a bicycle in Lisbon?", "repairing cameras", "Chloe sold sheds")

    def both(query: str, k: int) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        fast = big.retriever.lexical(query, k, where, parameters, None, filters)
        assert big.retriever.lexical_index is not None
        assert big.retriever.lexical_index.active
        big.retriever.lexical_index.active = False  # force the FTS5 path
        slow = big.retriever.lexical(query, k, where, parameters, None, filters)
        big.retriever.lexical_index.active = True
        return fast, slow

    def compare() -> list[set[int]]:
        found = []
        for query in queries:
            # Every match (k above the store's size): the same rows with the same scores.
            every_fast, every_slow = both(query, 1000)
            every = {rowid: round(score, 3) for rowid, score in every_slow}
            assert {rowid: round(score, 3) for rowid, score in every_fast} == every
            assert len(every) > 20  # so k=20 below cuts the ranking
            # The top 20 (best first): the same scores; the same rows above the 20th score, and
            # at it rows tied there (which of the tied rows fill k is either engine's choice).
            fast, slow = both(query, 20)
            assert [round(score, 3) for _, score in fast] == [round(score, 3) for _, score in slow]
            cut = round(fast[-1][1], 3)
            for ranking in (fast, slow):
                assert {r for r, s in ranking if round(s, 3) != cut} == {
                    r for r, s in every.items() if s > cut
                }
                assert {r for r, s in ranking if round(s, 3) == cut} <= {
                    r for r, s in every.items() if s == cut
                }
            found.append({rowid for rowid, _ in fast})
        return found

    compare()
    # Changes after a search (cached collection statistics) still rank like FTS5.
    big.delete(ids[0])
    big.add_many(
        [{"text": "Ava painted the old bicycle in Lisbon twice, bicycle and all"}], cube="me/x"
    )
    for found in compare():
        assert ids[0] not in {
            big.store.query("SELECT id FROM items WHERE rowid = ?", [r])[0][0] for r in found
        }
    big.close()


def test_a_runtime_below_its_ann_threshold_ignores_a_saved_graph(
    tmp_path: Path, embedder: CountingEmbedder
) -> None:
    graph = MemOS(home=tmp_path, embedder=embedder, ann_threshold=5)
    graph.add_many([{"text": f"note {i}"} for i in range(8)], cube="me/n")
    graph.search("note", k=1)
    graph.close()
    exact = MemOS(home=tmp_path, embedder=embedder, ann_threshold=1000)
    exact.search("note", k=1)
    assert exact.index._ann is None
    assert not exact.index.ann_loaded
    exact.close()
