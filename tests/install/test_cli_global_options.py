"""Global options before the command (`memos --json list`, `memos -q ...`), against a real
registry process (memos_client.cli.context)."""

from __future__ import annotations

import json

from tests.install.conftest import Memos, Publisher


def test_json_and_quiet_before_the_command(memos: Memos) -> None:
    result = memos.run("--json", "list")
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")
    assert memos.run("list").stderr == "no cubes installed\n"
    quiet = memos.run("-q", "list")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert memos.run("--quiet", "--json", "list").stdout == "[]\n"


def test_index_url_before_the_command_fills_the_command_s_own(
    memos: Memos, publisher: Publisher
) -> None:
    ns = publisher.namespace
    publisher.publish("g", "1.0.0")
    away = Memos(memos.home, memos.cache, "http://127.0.0.1:9")  # MEMOS_INDEX_URL: nothing there
    result = away.run("-v", "--index-url", memos.index_url, "install", f"{ns}/g")
    assert result.returncode == 0, result.stderr
    assert f"registry: {memos.index_url} (from memos --index-url)" in result.stderr
    # The command's own --index-url wins over the global one.
    shown = away.run("--index-url", "http://127.0.0.1:9", "show", f"{ns}/g", "--remote")
    assert shown.returncode == 7, shown.stderr
    shown = away.run(
        "--index-url",
        "http://127.0.0.1:9",
        "show",
        "--remote",
        f"{ns}/g",
        "--index-url",
        memos.index_url,
    )
    assert shown.returncode == 0, shown.stderr
    # --index-url=URL is the same option.
    listed = away.run(f"--index-url={memos.index_url}", "--json", "search", ns)
    assert [hit["name"] for hit in json.loads(listed.stdout)["results"]] == [f"{ns}/g"]


def test_verbose_names_the_registry_and_where_it_came_from(
    memos: Memos, publisher: Publisher
) -> None:
    publisher.publish("w", "1.0.0")
    result = memos.run("-v", "install", f"{publisher.namespace}/w")
    assert f"registry: {memos.index_url} (from $MEMOS_INDEX_URL)" in result.stderr


def test_cache_dir_before_the_command(memos: Memos, publisher: Publisher) -> None:
    publisher.publish("c", "1.0.0")
    elsewhere = memos.home.parent / "other-cache"
    memos.run("--cache-dir", str(elsewhere), "install", f"{publisher.namespace}/c", check=True)
    info = json.loads(memos.run("--cache-dir", str(elsewhere), "--json", "cache", "info").stdout)
    assert info["path"] == str(elsewhere / "v1")
    assert info["blobs"]["count"] == 1
    assert not (memos.cache / "v1" / "blobs").exists() or not any(
        p.is_file() for p in (memos.cache / "v1" / "blobs").rglob("*")
    )
