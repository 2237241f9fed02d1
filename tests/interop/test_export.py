"""`memos export`: install -> export -> pack -> install gives the same cube; JSONL; MemOS."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from memos_client.cli.main import run
from memos_client.runtime import MemOS
from tests.interop.test_import import SHARED

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("MEMOS_HOME", str(home))
    monkeypatch.setenv("MEMOS_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("MEMOS_EMBEDDER", "hashing")


def snapshot(home: Path, cube: str) -> dict[str, Any]:
    """What must survive the round trip: each memory's content and state, and the parts."""
    with MemOS(home=home, embedder="hashing") as mem:
        items = {
            item.source_id: (item.text, item.tags, item.metadata, str(item.state))
            for item in mem.memories(cube)
        }
        (installed,) = [c for c in mem.installed_cubes() if c.name == cube]
        parts = {
            (p["kind"], p["name"], p["digest"]) for p in installed.parts if p["kind"] != "plaintext"
        }
    return {"items": items, "parts": parts, "governance": installed.governance}


def source_dir(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    (source / "memories").mkdir(parents=True)
    (source / "memcube.toml").write_text(
        '[cube]\nname = "acme/handbook"\nversion = "1.2.0"\ndescription = "Ops handbook"\n'
        'license = "CC-BY-4.0"\nkeywords = ["ops"]\nhomepage = "https://example.org/ops"\n'
        '\n[governance]\nsensitivity = "internal"\n'
        '\n[governance.access]\nread = ["*"]\nwrite = ["local"]\n'
    )
    (source / "memories" / "facts.jsonl").write_text(
        json.dumps({"id": "wifi", "text": "Wifi rotates on Mondays.", "tags": ["it"], "metadata": {"n": 1, "nested": {"a": [1, 2]}}})
        + "\n"
        + json.dumps({"id": "desk", "text": "Hot desks are on floor 3.", "tags": [], "metadata": {}})
        + "\n"
    )  # fmt: skip
    (source / "README.md").write_text("# Ops handbook\n\nWhat the ops team knows.\n")
    (source / "memories" / "guide.md").write_text(
        "# Guide\n\n## Deploys\n\nDeploy on Tuesdays.\n\n## Rollbacks\n\nRoll back with undo.\n"
    )
    (source / "activations").mkdir()
    shutil.copyfile(VECTORS / "activation.safetensors", source / "activations" / "core.safetensors")
    (source / "adapters" / "style").mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copyfile(VECTORS / name, source / "adapters" / "style" / name)
    return source


def test_install_export_pack_install_gives_the_same_cube(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    use_home(monkeypatch, first)
    bundle = tmp_path / "handbook.memcube"
    code, _, err = cli(capsys, "pack", str(source_dir(tmp_path)), "-o", str(bundle), "--unsigned")
    assert code == 0, err
    assert cli(capsys, "install", str(bundle), "--allow-unsigned")[0] == 0
    # Local life after the install: one memory archived; it must come back archived.
    assert cli(capsys, "lifecycle", "archive", "acme/handbook#desk")[0] == 0
    before = snapshot(first, "acme/handbook")
    assert before["items"]["desk"][3] == "archived"
    assert len(before["parts"]) == 2

    exported = tmp_path / "exported"
    code, out, err = cli(capsys, "export", "acme/handbook", "-o", str(exported))
    assert code == 0, err
    assert out.startswith("exported acme/handbook: 4 memories, 1 KV snapshots, 1 adapters to ")
    assert sorted(p.name for p in exported.iterdir()) == [
        "README.md",
        "activations",
        "adapters",
        "memcube.toml",
        "memories",
    ]
    manifest = tomllib.loads((exported / "memcube.toml").read_text())
    assert manifest["cube"]["version"] == "1.2.0"
    assert manifest["cube"]["description"] == "Ops handbook"
    assert manifest["governance"]["access"]["write"] == ["local"]
    assert manifest["cube"]["homepage"] == "https://example.org/ops"
    assert (exported / "README.md").read_text() == "# Ops handbook\n\nWhat the ops team knows.\n"

    rebuilt = tmp_path / "rebuilt.memcube"
    assert cli(capsys, "pack", str(exported), "-o", str(rebuilt), "--unsigned")[0] == 0
    use_home(monkeypatch, second)
    assert cli(capsys, "install", str(rebuilt), "--allow-unsigned")[0] == 0
    after = snapshot(second, "acme/handbook")
    assert after == before


def test_export_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_home(monkeypatch, tmp_path / "home")
    assert cli(capsys, "add", "A note.", "--cube", "me/notes")[0] == 0
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "export", "me/notes", "-o", str(target))
    assert code == 2
    assert err == f"error: {target} exists and is not empty: choose a new -o directory\n"
    assert (target / "keep.txt").read_text() == "mine"
    code, _, err = cli(capsys, "export", "me/nothing", "-o", str(tmp_path / "x"))
    assert code == 4
    assert not (tmp_path / "x").exists()


def test_jsonl_export_imports_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_home(monkeypatch, tmp_path / "home")
    assert cli(capsys, "import", str(SHARED / "memos" / "general-cube"))[0] == 0
    dump = tmp_path / "dump.jsonl"
    code, _, err = cli(capsys, "export", "alice/travel", "-o", str(dump), "--format", "jsonl")
    assert code == 0, err
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(lines) == 3
    assert {line["state"] for line in lines} == {"generated"}
    assert all(line["cube"] == "alice/travel" for line in lines)
    code, _, err = cli(capsys, "import", str(dump), "--cube", "copy/travel")
    assert code == 0, err
    with MemOS(home=tmp_path / "home", embedder="hashing") as mem:
        original = {
            (i.source_id, i.text, tuple(i.tags), json.dumps(i.metadata, sort_keys=True))
            for i in mem.memories("alice/travel")
        }
        copy = {
            (i.source_id, i.text, tuple(i.tags), json.dumps(i.metadata, sort_keys=True))
            for i in mem.memories("copy/travel")
        }
    assert copy == original


def test_memos_export_has_the_shape_memos_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export reads like MemOS 2.0.33's own dump (tests/interop: the shared fixture), and
    importing it back gives the same memories."""
    use_home(monkeypatch, tmp_path / "home")
    assert cli(capsys, "import", str(SHARED / "memos" / "general-cube"))[0] == 0
    (tmp_path / "doc.md").write_text("# Notes\n\nAlice's passport expires in 2031.\n")
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "add", "--file", "doc.md", "--cube", "alice/travel")[0] == 0
    out = tmp_path / "memos-cube"
    code, _, err = cli(capsys, "export", "alice/travel", "-o", str(out), "--format", "memos")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "textual_memory.json"]
    config = json.loads((out / "config.json").read_text())
    real_config = json.loads((SHARED / "memos" / "general-cube" / "config.json").read_text())
    assert config["model_schema"] == real_config["model_schema"]
    assert set(config) <= set(real_config)
    assert config["text_mem"]["backend"] == "naive_text"
    assert "api_key" not in json.dumps(config)
    items = json.loads((out / "textual_memory.json").read_text())
    real = json.loads((SHARED / "memos" / "general-cube" / "textual_memory.json").read_text())
    import uuid

    for item in items:
        assert set(item) == set(real[0])
        uuid.UUID(item["id"])
        assert set(real[0]["metadata"]) - {"internal_info", "memory_time"} <= set(item["metadata"])
        assert item["metadata"]["status"] == "activated"
    peanuts = next(i for i in items if i["memory"] == "Alice is allergic to peanuts.")
    assert peanuts["metadata"]["confidence"] == 0.95
    assert peanuts["metadata"]["visibility"] == "private"
    assert peanuts["metadata"]["tags"] == ["health"]
    chunk = next(i for i in items if "passport" in i["memory"])
    assert chunk["metadata"]["source"] == "file"
    assert chunk["metadata"]["key"] == "Notes"
    # And back: the same ids, texts and metadata.
    code, _, err = cli(capsys, "import", str(out), "--cube", "copy/travel")
    assert code == 0, err
    with MemOS(home=tmp_path / "home", embedder="hashing") as mem:
        original = {i.source_id: (i.text, i.tags, i.metadata) for i in mem.memories("alice/travel")}
        copy = {i.source_id: (i.text, i.tags, i.metadata) for i in mem.memories("copy/travel")}
    assert copy == original


#: Metadata MemOS's typed fields do not accept as they are (MemStore metadata is free-form).
AWKWARD = {
    "source": "atlas", "visibility": "team", "confidence": "high", "evolve_to": [1, 2],
    "history": [{"version": 1, "memory": "old", "update_type": "merge"}], "user_id": 42,
    "key": 7, "type": ["x"], "session_id": 3, "status": "weird", "tags": "x", "info": "text",
    "internal_info": 5, "is_fast": "yes", "version": "v2", "updated_at": 5, "working_binding": 3,
    "memory_type": "Nonsense", "sources": [{"role": "robot"}], "embedding": ["a"],
    "background": 5, "usage": [1],
}  # fmt: skip


def test_memos_export_passes_memos_loader_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every memory of a cube filled from every importer, and with metadata MemOS's typed fields
    refuse, passes the checks MemOS's loader makes (tests/interop/memos_rules.py): MemOS loads
    all of a cube or, after one entry it refuses, none."""
    from tests.interop import formats, memos_rules

    use_home(monkeypatch, tmp_path / "home")
    fixtures = Path(__file__).parent / "fixtures"
    notes = tmp_path / "notes.jsonl"
    notes.write_text(
        json.dumps({"id": "odd", "text": "Free-form metadata.", "metadata": AWKWARD}) + "\n"
        + json.dumps({"id": "ok", "text": "Plain.", "metadata": {"history": [{"version": 2, "memory": "was", "update_type": "conflict"}], "evolve_to": ["x"]}}) + "\n"
    )  # fmt: skip
    sources = [
        notes,
        fixtures / "memos" / "mem_cube_tree" / "textual_memory.json",
        fixtures / "memos" / "mem_cube_2",
        fixtures / "letta" / "evie-11ef46c.af",
        formats.mem0_export(tmp_path / "mem0.zip"),
    ]
    for source in sources:
        code, _, err = cli(capsys, "import", str(source), "--cube", "me/all", "--messages")
        assert code == 0, err
    out = tmp_path / "memos-cube"
    code, _, err = cli(capsys, "export", "me/all", "-o", str(out), "--format", "memos")
    assert code == 0, err
    memos_rules.GeneralMemCubeConfig.model_validate_json((out / "config.json").read_text())
    items = json.loads((out / "textual_memory.json").read_text())
    with MemOS(home=tmp_path / "home", embedder="hashing") as mem:
        assert len(items) == len(mem.memories("me/all"))
    for item in items:
        memos_rules.TextualMemoryItem.model_validate(item)
    by_id = {i["metadata"]["info"]["memstore_id"]: i["metadata"] for i in items}
    assert by_id["ok"]["history"][0]["update_type"] == "conflict"
    assert by_id["ok"]["evolve_to"] == ["x"]
    assert (by_id["odd"]["history"], by_id["odd"]["evolve_to"]) == ([], [])
    assert by_id["odd"]["info"]["source"] == "atlas"  # kept whole, where MemOS takes anything
