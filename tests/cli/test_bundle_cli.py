"""`memos keygen / init / pack / verify / inspect`, run as the user runs them: a subprocess.

Each rejection is checked by its exact one-line message and exit code, and no command may leave
anything behind outside its target: no partial bundle, no temporary file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from memos_client.trust.keystore import generate_key
from mip.keys import PublicKey
from mip.tensors import token_ids_digest
from tests.support import TINY_FINGERPRINT

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "spec" / "vectors"
INVALID = sorted((VECTORS / "invalid").glob("*.memcube"))


def memos(
    *args: str | Path, home: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {"PYTHONPATH": str(ROOT), "MEMOS_HOME": str(home)} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "memos_client", *map(str, args)],
        env=environment,
        cwd=cwd or home.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_cube_source(root: Path, manifest: str, notes: str) -> Path:
    """A cube source directory at ``root``: ``memcube.toml`` and ``memories/notes.jsonl``."""
    (root / "memories").mkdir(parents=True)
    (root / "memcube.toml").write_text(manifest, "utf-8")
    (root / "memories" / "notes.jsonl").write_text(notes, "utf-8")
    return root


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# --- keygen -------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_the_owner_reads(home: Path) -> None:
    result = memos("keygen", home=home)
    assert result.returncode == 0, result.stderr
    key_id = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key_id)
    private = home / "keys" / "default.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = PublicKey.from_pem((home / "keys" / "default.pub").read_bytes())
    assert public.key_id == key_id
    assert sorted(files_under(home / "keys")) == ["default.key", "default.pub"]


def test_keygen_refuses_to_overwrite(home: Path) -> None:
    first = memos("keygen", home=home).stdout
    before = (home / "keys" / "default.key").read_bytes()
    again = memos("keygen", home=home)
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == (
        f"error: a signing key named 'default' already exists at {home / 'keys' / 'default.key'}; "
        "pass --force to replace it or --name to create another\n"
    )
    assert (home / "keys" / "default.key").read_bytes() == before
    forced = memos("keygen", "--force", home=home)
    assert forced.returncode == 0
    assert forced.stdout != first
    other = memos("keygen", "--name", "work", home=home)
    assert other.returncode == 0
    assert (home / "keys" / "work.key").exists()


def test_keygen_refuses_a_path_as_name(home: Path) -> None:
    result = memos("keygen", "--name", "../escape", home=home)
    assert result.returncode == 2
    assert result.stderr == (
        "error: invalid key name '../escape': use letters, digits, '-', '_' and '.'\n"
    )
    assert not (home.parent / "escape.key").exists()


# --- init ---------------------------------------------------------------------------------


def test_init_scaffolds_a_source_directory(home: Path, tmp_path: Path) -> None:
    result = memos("init", tmp_path / "cube", "--name", "acme/facts", home=home)
    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path / "cube") == {"memcube.toml", "memories", "memories/notes.jsonl"}
    assert 'name = "acme/facts"' in (tmp_path / "cube" / "memcube.toml").read_text()
    again = memos("init", tmp_path / "cube", "--name", "acme/facts", home=home)
    assert again.returncode == 2
    assert again.stderr == (
        f"error: {tmp_path / 'cube' / 'memcube.toml'} already exists; not overwriting it\n"
    )


def test_init_refuses_a_bad_name(home: Path, tmp_path: Path) -> None:
    result = memos("init", tmp_path / "cube", "--name", "acme", home=home)
    assert result.returncode == 2
    assert result.stderr == (
        "error: invalid cube name 'acme': expected 'namespace/name'; pass --name namespace/name\n"
    )
    assert not (tmp_path / "cube").exists()


# --- pack, verify, inspect ------------------------------------------------------------------


@pytest.fixture
def source(home: Path, tmp_path: Path) -> Path:
    """A keyed home and a source directory with two JSONL memories and a Markdown one.

    Made in-process: keygen and init have their own subprocess tests above.
    """
    generate_key(home=home)
    root = write_cube_source(
        tmp_path / "cube",
        '[cube]\nname = "acme/facts"\nversion = "0.1.0"\ndescription = "Facts."\n'
        '[dependencies]\n"acme/base" = ">=1.0,<2"\n[governance]\nsensitivity = "internal"\n',
        '{"text": "Paris is the capital of France.", "tags": ["geo"]}\n'
        '{"id": "m-2", "text": "Water boils at 100 C.", "metadata": {"unit": "C"}}\n',
    )
    (root / "memories" / "guide.md").write_text("# Guide\n\nRead the notes.\n")
    return root


EPOCH = {"SOURCE_DATE_EPOCH": "1767225600"}  # 2026-01-01T00:00:00Z


def test_pack_verify_inspect(source: Path, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    out.mkdir()
    packed = memos("pack", source, "-o", out / "facts.memcube", home=home, env=EPOCH)
    assert packed.returncode == 0, packed.stderr
    path, name, digest = packed.stdout.split()
    assert (path, name) == (str(out / "facts.memcube"), "acme/facts@0.1.0")
    assert files_under(out) == {"facts.memcube"}

    key_id = (home / "keys" / "default.pub").read_bytes()
    key_id_hex = PublicKey.from_pem(key_id).key_id
    verified = memos("verify", out / "facts.memcube", home=home)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == f"OK acme/facts@0.1.0 {digest} signed by {key_id_hex[:16]}\n"
    with_key = memos(
        "verify", out / "facts.memcube", "--key", home / "keys" / "default.pub", home=home
    )
    assert with_key.returncode == 0

    inspected = memos("inspect", "--json", out / "facts.memcube", home=home)
    document = json.loads(inspected.stdout)
    assert document["digest"] == digest
    assert document["signatures"] == [{"keyid": key_id_hex}]
    (part,) = document["manifest"]["parts"]
    assert (part["kind"], part["name"], part["count"]) == ("plaintext", "memories", 3)
    assert document["manifest"]["created"] == "2026-01-01T00:00:00Z"

    text = memos("inspect", out / "facts.memcube", home=home).stdout
    assert text.splitlines()[0] == "acme/facts 0.1.0"
    assert f"digest:       {digest}" in text
    assert re.search(r"^  plaintext  memories +\d+ B  3 memories  sha256:[0-9a-f]{12}$", text, re.M)
    assert text.splitlines()[-1] == f"signers:      {key_id_hex}"


def test_pack_is_reproducible(source: Path, home: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.memcube", tmp_path / "two.memcube"
    first = memos("pack", source, "-o", one, home=home, env=EPOCH)
    assert first.returncode == 0
    second = memos("pack", source, "-o", two, "--json", home=home, env=EPOCH)
    assert second.returncode == 0
    assert one.read_bytes() == two.read_bytes()
    report = json.loads(second.stdout)
    signer = PublicKey.from_pem((home / "keys" / "default.pub").read_bytes()).key_id
    assert report == {
        "path": str(two),
        "name": "acme/facts",
        "version": "0.1.0",
        "digest": first.stdout.split()[2],
        "signers": [signer],
    }


def test_verify_with_the_wrong_key(source: Path, home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "facts.memcube"
    assert memos("pack", source, "-o", bundle, home=home).returncode == 0
    signer = PublicKey.from_pem((home / "keys" / "default.pub").read_bytes()).key_id
    result = memos("verify", bundle, "--key", VECTORS / "other-key.pub", home=home)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr == (
        f"error: no signature verifies with a trusted key (signed by key ids: {signer[:16]}); "
        "check the signer's public key\n"
    )
    # Someone else's home trusts nobody.
    stranger = memos("verify", bundle, home=tmp_path / "stranger")
    assert stranger.returncode == 3
    assert stranger.stderr.startswith("error: no signature verifies with a trusted key")


def test_unsigned_bundles_need_an_explicit_flag(source: Path, home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "facts.memcube"
    assert memos("pack", source, "-o", bundle, "--unsigned", home=home).returncode == 0
    refused = memos("verify", bundle, home=home)
    assert refused.returncode == 3
    assert refused.stderr == "error: the bundle is unsigned: its envelope carries no signature\n"
    allowed = memos("verify", bundle, "--allow-unsigned", home=home)
    assert allowed.returncode == 0
    assert allowed.stdout.endswith(" signed by unsigned\n")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["verify", "{tmp}/missing.memcube"], 1, "error: No such file or directory: {tmp}/missing.memcube: check the path"),
        (["verify", "{vectors}/valid.memcube", "--key", "{tmp}/none.pub"], 2, "error: public key file {tmp}/none.pub does not exist"),
        (["verify", "{vectors}/valid.memcube", "--key", "{vectors}/manifest.json"], 2, "error: {vectors}/manifest.json: not a PEM public key: expected '-----BEGIN PUBLIC KEY-----'"),
        (["verify", "{vectors}/valid.memcube", "--key", "{vectors}/test-key.pem"], 2, "error: {vectors}/test-key.pem: not a PEM public key: expected '-----BEGIN PUBLIC KEY-----'"),
        (["inspect", "{vectors}/invalid/truncated.memcube"], 3, "error: not a valid .memcube: truncated or not a ZIP archive (File is not a zip file)"),
        (["verify", "{tmp}"], 1, "error: Is a directory: {tmp}: give a file, not a directory"),
        (["verify", "{vectors}/valid.memcube/x"], 1, "error: Not a directory: {vectors}/valid.memcube/x: a part of the path is a file, not a directory"),
    ],
    ids=["missing-bundle", "missing-key", "key-not-pem", "private-key-as-public", "inspect-truncated", "bundle-is-a-directory", "path-through-a-file"],
)  # fmt: skip
def test_usage_errors(home: Path, tmp_path: Path, args: list[str], code: int, message: str) -> None:
    fill = {"tmp": str(tmp_path), "vectors": str(VECTORS)}
    result = memos(*(a.format(**fill) for a in args), home=home)
    assert result.returncode == code
    assert result.stdout == ""
    assert result.stderr == message.format(**fill) + "\n"


def test_the_golden_bundles_verify_with_the_test_key(home: Path) -> None:
    for name in ("valid.memcube", "valid-all-kinds.memcube"):
        result = memos("verify", VECTORS / name, "--key", VECTORS / "test-key.pub", home=home)
        assert result.returncode == 0, result.stderr
        digest = (VECTORS / "manifest.digest").read_text().strip()
        if name == "valid.memcube":
            assert result.stdout == (
                f"OK memstore-test/mip-vectors@1.0.0 {digest} signed by 483e4e78d5e9f489\n"
            )


# --- every invalid vector through `memos verify` ---------------------------------------------


@pytest.fixture(scope="module")
def invalid_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str, Path]]:
    """Run `memos verify --key test-key.pub` on every invalid vector at once (they are slow)."""
    base = tmp_path_factory.mktemp("invalid-runs")

    def run(path: Path) -> tuple[int, str, str, Path]:
        # In `base`, the home's parent.
        done = memos("verify", "--key", VECTORS / "test-key.pub", path, home=base / "home")
        return done.returncode, done.stdout, done.stderr, base

    # One process per vector, as many at a time as there are cores.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip([p.stem for p in INVALID], pool.map(run, INVALID), strict=True))


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_verify_names_the_first_reason(
    invalid_runs: dict[str, tuple[int, str, str, Path]], path: Path
) -> None:
    code, stdout, stderr, _ = invalid_runs[path.stem]
    message = path.with_suffix(".error").read_text().rstrip("\n").partition(": ")[2]
    assert code == 3
    assert stdout == ""
    assert stderr == f"error: {message}\n"


def test_bad_bundles_write_nothing(invalid_runs: dict[str, tuple[int, str, str, Path]]) -> None:
    (base,) = {run[3] for run in invalid_runs.values()}
    # No file in the working directory, none in MEMOS_HOME, none where the hostile names point.
    assert files_under(base) == set()
    assert not Path("/tmp/memcube-escape").exists()
    committed = {p.name for p in (VECTORS / "invalid").iterdir()}
    assert committed == {f"{p.stem}{suffix}" for p in INVALID for suffix in (".memcube", ".error")}


# --- activation and parameter parts ----------------------------------------------------------

MODEL = dict(TINY_FINGERPRINT)
TOKEN_IDS = [11, 12, 13]


def write_activation(path: Path, dtype: Any = np.float16, **changes: Any) -> None:
    """A self-describing KV snapshot as MIP-1 §7.2 lays it out."""
    fields = {
        "model": MODEL,
        "dtype": "F16",
        "num_layers": 2,
        "num_kv_heads": 2,
        "head_dim": 4,
        "num_tokens": 3,
        "token_ids_sha256": token_ids_digest(TOKEN_IDS),
        "sources": [{"id": "m-2", "version": 1}],
    } | changes
    rng = np.random.default_rng(1)
    tensors = {
        f"layers.{i}.{which}": rng.standard_normal((2, 3, 4)).astype(dtype)
        for i in range(2)
        for which in ("key", "value")
    }
    tensors["token_ids"] = np.array(TOKEN_IDS, dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"memcube.activation": json.dumps(fields)})


def write_adapter(directory: Path, rank: int = 2, config_text: str | None = None) -> None:
    """A PEFT LoRA adapter: adapter_config.json + adapter_model.safetensors (MIP-1 §7.3)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}
    (directory / "adapter_config.json").write_text(config_text or json.dumps(config))
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    tensors = {
        f"{prefix}.lora_A.weight": np.ones((rank, 16), np.float32),
        f"{prefix}.lora_B.weight": np.zeros((16, rank), np.float32),
    }
    meta = json.dumps({"base_model": MODEL, "sources": [{"id": "m-2", "version": 1}]})
    save_file(
        tensors,
        str(directory / "adapter_model.safetensors"),
        metadata={"memcube.parameter": meta, "format": "pt"},
    )


def test_pack_includes_activation_and_parameter_parts(
    source: Path, home: Path, tmp_path: Path
) -> None:
    write_activation(source / "activations" / "kv-notes.safetensors")
    write_adapter(source / "adapters" / "lora-notes")
    bundle = tmp_path / "facts.memcube"
    packed = memos("pack", source, "-o", bundle, home=home)
    assert packed.returncode == 0, packed.stderr
    assert memos("verify", bundle, home=home).returncode == 0
    parts = json.loads(memos("inspect", "--json", bundle, home=home).stdout)["manifest"]["parts"]
    by_kind = {part["kind"]: part for part in parts}
    assert set(by_kind) == {"plaintext", "activation", "parameter"}
    activation = by_kind["activation"]
    assert activation["name"] == "kv-notes"
    assert activation["model"]["model_id"] == "org/tiny"
    assert (activation["num_tokens"], activation["dtype"]) == (3, "F16")
    assert (
        activation["digest"]
        == "sha256:"
        + hashlib.sha256((source / "activations" / "kv-notes.safetensors").read_bytes()).hexdigest()
    )
    parameter = by_kind["parameter"]
    assert parameter["name"] == "lora-notes"
    assert parameter["adapter_config"]["r"] == 2
    assert parameter["base_model"] == MODEL
    text = memos("inspect", bundle, home=home).stdout
    assert re.search(r"^  activation kv-notes .* 3 tokens, F16  sha256:", text, re.M)
    assert re.search(r"^  parameter  lora-notes .* LoRA r=2  sha256:", text, re.M)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda s: write_activation(s / "activations" / "kv.safetensors", dtype=np.float32), "{s}/activations/kv.safetensors: activation part 'kv': tensor layers.0.key is F32[2, 3, 4], the manifest declares F16[2, 3, 4]"),
        (lambda s: write_activation(s / "activations" / "kv.safetensors", num_tokens=4), "{s}/activations/kv.safetensors: activation part 'kv': tensor layers.0.key is F16[2, 3, 4], the manifest declares F16[2, 4, 4]"),
        (lambda s: write_activation(s / "activations" / "kv.safetensors", token_ids_sha256="0" * 64), "{s}/activations/kv.safetensors: activation part 'kv': 'token_ids' do not hash to its token_ids_sha256"),
        (lambda s: write_activation(s / "activations" / "kv.safetensors", num_layers=3, model=MODEL | {"num_layers": 3}), "{s}/activations/kv.safetensors: activation part 'kv': missing tensors layers.2.key, layers.2.value"),
        (lambda s: save_file({"x": np.zeros(2, np.float16)}, str(s / "activations" / "kv.safetensors")), "{s}/activations/kv.safetensors: safetensors __metadata__ lacks 'memcube.activation': not a MemCube tensor file"),
        (lambda s: (s / "activations" / "kv.safetensors").write_bytes(b"\xff" * 16), "{s}/activations/kv.safetensors: invalid safetensors header: 18446744073709551615 bytes, over the 16777216-byte limit"),
        (lambda s: write_adapter(s / "adapters" / "lora", rank=4), "{s}/adapters/lora: parameter part 'lora': tensor base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight has rank 4, adapter_config.r is 2"),
        (lambda s: (s / "adapters" / "lora").mkdir(parents=True), "{s}/adapters/lora: an adapter needs adapter_config.json and adapter_model.safetensors (adapter_config.json is missing)"),
        (lambda s: (s / "memcube.toml").write_text("[cube]\nname = 'acme'\nversion = '1'\n"), "{s}/memcube.toml: invalid manifest: name: invalid cube name 'acme': expected 'namespace/name'"),
        (lambda s: (s / "memcube.toml").write_text("[cube]\nname = 'acme/facts'\nversion = '1'\n"), "{s}/memcube.toml: invalid manifest: version: invalid version '1': expected SemVer MAJOR.MINOR.PATCH like 1.2.3"),
        (lambda s: (s / "memcube.toml").write_text("[cube\n"), "{s}/memcube.toml: not valid TOML (Expected ']' at the end of a table declaration (at line 1, column 6))"),
        (lambda s: (s / "memories" / "bad.jsonl").write_text('{"text": ""}\n[1]\n'), "invalid memories: bad.jsonl:1: 'text' must be a non-empty string; bad.jsonl:2: expected a JSON object"),
        (lambda s: (s / "memories" / "bad.jsonl").write_text("[" * 100_000 + "\n" + '{"text": "\\ud800"}\n'), "invalid memories: bad.jsonl:1: JSON nested too deeply; bad.jsonl:2: not valid Unicode text (an unpaired surrogate escape)"),
        (lambda s: (s / "memories" / "secret.md").symlink_to("/etc/hostname"), "{s}: memories/secret.md links outside the cube source: copy the file in instead"),
        (lambda s: (s / "memories" / "gone.jsonl").symlink_to(s / "nowhere.jsonl"), "{s}: memories/gone.jsonl is a broken link"),
        (lambda s: (s / "activations").rmdir() or (s / "activations").write_text("x"), "{s}: activations must be a directory"),
        (lambda s: write_activation(s / "activations" / "kv notes.safetensors", head_dim=0), "{s}/activations/kv notes.safetensors: invalid activation metadata: head_dim: Expected `int` >= 1"),
        (lambda s: write_activation(s / "activations" / "kv notes.safetensors"), "{s}/activations/kv notes.safetensors: invalid activation metadata: name: Expected `str` matching regex '^[A-Za-z0-9][A-Za-z0-9._-]*$'"),
        (lambda s: write_adapter(s / "adapters" / "lora", config_text="{r: 2}"), "{s}/adapters/lora/adapter_config.json: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        (lambda s: write_adapter(s / "adapters" / "lora", config_text='{"peft_type": "LORA", "r": "2"}'), "{s}/adapters/lora: invalid adapter metadata: adapter_config: adapter_config.r must be a positive integer"),
    ],
    ids=["kv-dtype", "kv-shape", "kv-token-ids", "kv-layers", "kv-no-metadata", "kv-header", "lora-rank", "lora-no-config", "toml-schema", "toml-schema-version", "toml-syntax", "memories", "memories-deep-or-not-unicode", "link-outside", "broken-link", "not-a-folder", "kv-bad-metadata", "kv-bad-name", "lora-config-not-json", "lora-bad-metadata"],
)  # fmt: skip
def test_pack_refuses_bad_sources_and_writes_nothing(
    source: Path, home: Path, tmp_path: Path, make: Any, message: str
) -> None:
    (source / "activations").mkdir()
    make(source)
    out = tmp_path / "dist"
    out.mkdir()
    result = memos("pack", source, "-o", out / "facts.memcube", home=home)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "error: " + message.format(s=source) + "\n"
    assert files_under(out) == set()


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("cube/memcube.toml", "is part of the cube source"),
        ("cube/memories/notes.jsonl", "is part of the cube source"),
        ("cube/memories/new.memcube", "is part of the cube source"),
        ("notes.txt", "exists and is not a .memcube bundle"),
        ("a-directory", "exists and is not a regular file"),
        ("a-fifo", "exists and is not a regular file"),
        ("a-link", "exists and is not a regular file"),
    ],
)
def test_pack_never_replaces_what_is_not_a_bundle(
    source: Path, home: Path, tmp_path: Path, target: str, why: str
) -> None:
    (tmp_path / "notes.txt").write_text("precious")
    (tmp_path / "a-directory").mkdir()
    os.mkfifo(tmp_path / "a-fifo")
    (tmp_path / "a-link").symlink_to(tmp_path / "notes.txt")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.is_fifo()}
    result = memos("pack", source, "-o", tmp_path / target, home=home)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {tmp_path / target} {why}")
    assert len(result.stderr.splitlines()) == 1
    assert {p: p.read_bytes() for p in before} == before
    assert (tmp_path / "a-fifo").is_fifo()
    assert not list(tmp_path.rglob(".*.tmp"))


def test_pack_replaces_an_older_bundle_and_writes_inside_the_source_folder(
    source: Path, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "x.memcube"
    assert memos("pack", source, "-o", out, home=home).returncode == 0
    first = out.read_bytes()
    (source / "memories" / "more.jsonl").write_text('{"text": "another memory"}\n')
    assert memos("pack", source, "-o", out, home=home).returncode == 0
    assert out.read_bytes() != first
    # The default output lands in the working directory, here the source's own root: allowed.
    done = memos("pack", ".", home=home, cwd=source)
    assert done.returncode == 0, done.stderr
    assert (source / "acme-facts-0.1.0.memcube").is_file()


def test_pack_without_a_key(source: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-home"
    result = memos("pack", source, "-o", tmp_path / "x.memcube", home=empty)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: no signing key at {empty / 'keys' / 'default.key'}: run `memos keygen` first "
        "(or pass --key FILE)\n"
    )
    assert not (tmp_path / "x.memcube").exists()


def test_verify_refuses_a_small_order_key(home: Path, tmp_path: Path) -> None:
    """``--key`` with the identity point: it would "verify" the universal forgery (MIP-1 §6.1)."""
    der = bytes.fromhex("302a300506032b6570032100") + b"\x01" + bytes(31)
    key = tmp_path / "identity.pub"
    key.write_bytes(
        b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der) + b"\n-----END PUBLIC KEY-----\n"
    )
    result = memos("verify", VECTORS / "valid.memcube", "--key", key, home=home)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {key}: refusing a small-order Ed25519 public key")
