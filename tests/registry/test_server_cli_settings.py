"""`memos-registry` refuses bad settings with one line naming each, before it starts anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.registry.conftest import REPO
from tests.support import free_port


def _registry(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEMSTORE_")}
    environment.update({"PYTHONPATH": str(REPO), **env})
    return subprocess.run(
        [sys.executable, "-m", "registry_server", *args, "--data-dir", str(tmp_path / "data")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "MEMSTORE_S3_ADDRESSING_STYLE",
            "sideways",
            "MEMSTORE_S3_ADDRESSING_STYLE: Input should be 'auto', 'virtual' or 'path'",
        ),
        (
            "MEMSTORE_DATABASE_URL",
            "not a url",
            "MEMSTORE_DATABASE_URL: not a database URL; use e.g. postgresql+psycopg://host:5432/db",
        ),
        (
            "MEMSTORE_PRESIGN_EXPIRES_SECONDS",
            "1",
            "MEMSTORE_PRESIGN_EXPIRES_SECONDS: Input should be greater than or equal to 10",
        ),
        # inf used to be accepted, and the flush thread then died of an OverflowError.
        *(
            (
                "MEMSTORE_DOWNLOAD_FLUSH_SECONDS",
                value,
                "MEMSTORE_DOWNLOAD_FLUSH_SECONDS: Input should be a finite number",
            )
            for value in ("inf", "-inf", "nan")
        ),
        (
            "MEMSTORE_DOWNLOAD_FLUSH_SECONDS",
            "-1",
            "MEMSTORE_DOWNLOAD_FLUSH_SECONDS: Input should be greater than 0",
        ),
        (
            "MEMSTORE_DOWNLOAD_FLUSH_SECONDS",
            "1e9",
            "MEMSTORE_DOWNLOAD_FLUSH_SECONDS: Input should be less than or equal to 3600",
        ),
    ],
)
@pytest.mark.parametrize(
    "command", [["serve", "--port", "1"], ["admin", "create-token", "--namespace", "ns"]]
)
def test_a_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str], variable: str, value: str, message: str
) -> None:
    result = _registry(tmp_path, *command, **{variable: value})
    assert result.returncode == 2
    assert result.stderr == f"error: invalid settings: {message}\n"
    assert not (tmp_path / "data" / "registry.db").exists()


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MEMSTORE_")}
    environment.update({"PYTHONPATH": str(REPO), **env})
    return subprocess.run(
        [sys.executable, "-m", "registry_server", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,  # a server that started after all runs into this and fails the test
        check=False,
    )


def _one_error_line(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def _unusable_data_dirs(tmp_path: Path) -> list[tuple[Path, str]]:
    """Data directories no command can use, even as root, with what the error says."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    return [
        (a_file, f"the data directory {a_file} is not a directory: pass a directory as --data-dir"),
        (a_file / "below", f"the data directory {a_file / 'below'} cannot be used"),
        (Path("/proc/memstore-test"), "the data directory /proc/memstore-test cannot be used"),
        (Path("/proc"), "the data directory /proc cannot be used"),  # exists; refuses files
    ]


def _corrupt_registry(tmp_path: Path) -> Path:
    data = tmp_path / "corrupt"
    data.mkdir()
    (data / "registry.db").write_bytes(b"garbage, not SQLite " * 100)
    return data


_DAMAGED = "file is not a database: if the file is damaged, move it away or restore it"


def test_serve_refuses_what_it_cannot_use_in_one_line(tmp_path: Path) -> None:
    port = str(free_port())
    for data_dir, message in _unusable_data_dirs(tmp_path):
        result = _run("serve", "--port", port, "--data-dir", str(data_dir))
        _one_error_line(result, 2, message)
    damaged = _run("serve", "--port", port, "--data-dir", str(_corrupt_registry(tmp_path)))
    _one_error_line(damaged, 1, _DAMAGED)
    data = str(tmp_path / "data")
    for storage_url, message in (
        ("garbage", "unsupported MEMSTORE_STORAGE_URL 'garbage': use file:///path or s3://"),
        ("file:///proc/memstore-test", "the blob directory /proc/memstore-test cannot be used"),
        ("s3:///prefix", "MEMSTORE_STORAGE_URL must name a bucket"),
    ):
        result = _run("serve", "--port", port, "--data-dir", data, MEMSTORE_STORAGE_URL=storage_url)
        _one_error_line(result, 2, message)
    unreachable = _run(
        "serve",
        "--port",
        port,
        "--data-dir",
        data,
        MEMSTORE_DATABASE_URL=f"postgresql+psycopg://127.0.0.1:{free_port()}/nothing",
    )
    _one_error_line(unreachable, 1, "cannot use the registry database", "MEMSTORE_DATABASE_URL")


def test_serve_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    for port in ("99999", "-1"):
        result = _run("serve", "--port", port, "--data-dir", str(tmp_path / "data"))
        _one_error_line(
            result,
            2,
            "memos-registry serve: argument --port: ",
            f"{port} is not between 0 and 65535",
        )
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_admin_commands_refuse_unusable_data_dirs_in_one_line(tmp_path: Path) -> None:
    for data_dir, message in _unusable_data_dirs(tmp_path):
        created = _run("admin", "create-token", "--namespace", "ns", "--data-dir", str(data_dir))
        _one_error_line(created, 2, message)
    a_file = tmp_path / "a-file"
    for command in (["list-tokens"], ["revoke-token", "1"]):
        result = _run("admin", *command, "--data-dir", str(a_file))
        _one_error_line(result, 1, f"error: {a_file} is not a directory of registry data")
    corrupt = str(_corrupt_registry(tmp_path))
    for command in (["create-token", "--namespace", "ns"], ["list-tokens"], ["revoke-token", "1"]):
        _one_error_line(_run("admin", *command, "--data-dir", corrupt), 1, _DAMAGED)
    assert (Path(corrupt) / "registry.db").read_bytes().startswith(b"garbage")  # left alone


def test_admin_refuses_out_of_range_days_and_ids(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    for days in ("99999999", "0", "-1"):
        result = _run(
            "admin", "create-token", "--namespace", "ns", "--days", days, "--data-dir", data
        )
        _one_error_line(
            result,
            2,
            "memos-registry admin create-token: argument --days: ",
            f"{days} is not between 1 and 3650",
        )
        assert "Traceback" not in result.stderr
    created = _run(
        "admin", "create-token", "--namespace", "ns", "--days", "3650", "--data-dir", data
    )
    assert created.returncode == 0, created.stderr
    for token_id in ("99999999999999999999999", str(2**63), "0"):
        result = _run("admin", "revoke-token", token_id, "--data-dir", data)
        _one_error_line(result, 1, f"error: no token with id {token_id}: ")
