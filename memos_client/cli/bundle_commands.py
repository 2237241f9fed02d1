"""Bundle commands: ``keygen``, ``init``, ``pack``, ``verify``, ``inspect`` (MIP v1 bundles)."""

from __future__ import annotations

from pathlib import Path

from memos_client.cli.app import arg, command, flag
from memos_client.cli.options import JSON
from memos_client.cli.output import note

_SAMPLE_TOML = """\
[cube]
name = "{name}"
version = "0.1.0"
description = "Describe what this memory knows."
license = "CC-BY-4.0"
keywords = []

[dependencies]
# "namespace/other-cube" = ">=1.0"

[governance]
sensitivity = "public"

[governance.access]
read = ["*"]
write = ["*"]
"""

_SAMPLE_JSONL = '{"text": "Write one memory per line.", "tags": ["example"], "metadata": {}}\n'


@command()
@arg("--name", default="default", help="Key name in $MEMOS_HOME/keys (default: %(default)s).")
@flag("--force", help="Replace an existing key of that name.")
@JSON
def keygen(name: str, force: bool, json_output: bool) -> None:
    """Create an Ed25519 signing key under $MEMOS_HOME/keys and print its key id."""
    from memos_client.trust.keystore import generate_key, keys_dir

    key = generate_key(name, force=force)
    if json_output:
        from memos_client.cli.output import print_json

        print_json(
            {"key_id": key.key_id, "name": name, "private_key": str(keys_dir() / f"{name}.key")}
        )
        return
    print(key.key_id)
    note(f"private key: {keys_dir() / (name + '.key')} (mode 0600)")


@command()
@arg("directory", type=Path, help="Directory to create.")
@arg("--name", required=True, help="Cube name, namespace/name.")
@arg(
    "--from",
    dest="from_dir",
    type=Path,
    metavar="DOCS",
    help="A folder of documents (.md, .txt, .html, .pdf) to copy into memories/.",
)
@JSON
def init(directory: Path, name: str, from_dir: Path | None, json_output: bool) -> None:
    """Scaffold a cube source directory: memcube.toml and memories/.

    With --from DOCS, the documents of that folder (and its subfolders) are copied into
    memories/, where `memos pack` cuts them into chunks; other files are listed and left out.
    """
    import shutil

    from memos_client.errors import UsageError
    from mip.errors import InvalidNameError
    from mip.names import validate_cube_name

    try:
        validate_cube_name(name)
    except InvalidNameError as exc:
        # A bad argument is a usage error (exit 2), not a bad bundle (exit 3).
        raise UsageError(f"{exc}; pass --name namespace/name") from exc
    if (directory / "memcube.toml").exists():
        raise UsageError(f"{directory / 'memcube.toml'} already exists; not overwriting it")
    documents: list[Path] = []
    skipped: list[Path] = []
    if from_dir is not None:
        from memos_client.ingest.adding import collect_documents

        if from_dir.resolve() == directory.resolve() or directory.resolve().is_relative_to(
            from_dir.resolve()
        ):
            raise UsageError(f"{directory} is inside {from_dir}: create the cube elsewhere")
        documents, skipped = collect_documents([], [from_dir])
    memories = directory / "memories"
    memories.mkdir(parents=True, exist_ok=True)
    (directory / "memcube.toml").write_text(_SAMPLE_TOML.format(name=name), "utf-8")
    if from_dir is None:
        sample = memories / "notes.jsonl"
        if not sample.exists():
            sample.write_text(_SAMPLE_JSONL, "utf-8")
        if json_output:
            _print_init(directory, name, [], [])
            return
        print(
            f"created {directory}: edit memcube.toml, add memories/*.jsonl or documents "
            "(.md, .txt, .html, .pdf), then `memos pack`"
        )
        return
    for path in documents:
        target = memories / path.relative_to(from_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    if json_output:
        _print_init(
            directory,
            name,
            [str(p.relative_to(from_dir)) for p in documents],
            [str(p.relative_to(from_dir)) for p in skipped],
        )
        return
    print(f"created {directory} with {len(documents)} documents from {from_dir}")
    if skipped:
        shown = ", ".join(str(path.relative_to(from_dir)) for path in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        print(f"  left out {len(skipped)} files that are not documents: {shown}{more}")
    print("  edit memcube.toml (description, license), then `memos pack`")


def _source_bytes(directory: Path) -> int:
    """The size of the files under a source directory (what ``memos pack`` reads)."""
    try:
        return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    except OSError:
        return 0  # pack itself reports an unreadable source


def _print_init(directory: Path, name: str, documents: list[str], skipped: list[str]) -> None:
    from memos_client.cli.output import print_json

    print_json(
        {"directory": str(directory), "name": name, "documents": documents, "skipped": skipped}
    )


@command()
@arg("directory", type=Path, help="Cube source directory.")
@arg("-o", "--output", type=Path, help="Output .memcube file.")
@arg(
    "--key",
    default="default",
    type=str,  # a PEM file's name may be any bytes
    help="Signing key name in $MEMOS_HOME/keys, or a PEM file (default: %(default)s).",
)
@flag("--unsigned", help="Do not sign (installs then need --allow-unsigned).")
@JSON
def pack(directory: Path, output: Path | None, key: str, unsigned: bool, json_output: bool) -> None:
    """Build and sign a .memcube bundle from a cube source directory."""
    from memos_client.authoring.packer import pack as pack_bundle
    from memos_client.cli.output import print_json, progress_bar
    from memos_client.trust.keystore import load_signing_key

    keys = [] if unsigned else [load_signing_key(key)]
    # The bar counts the bytes of the source files as they are copied or encoded into parts;
    # it shows only when that is large (activation snapshots, adapter weights, big memory files).
    with progress_bar(_source_bytes(directory), f"pack {directory.name}") as advance:
        result = pack_bundle(directory, output, keys, advance)
    if json_output:
        print_json(
            {
                "path": str(result.path),
                "name": result.manifest.name,
                "version": result.manifest.version,
                "digest": result.digest,
                "signers": [k.key_id for k in keys],
            }
        )
    else:
        print(f"{result.path}  {result.manifest.name}@{result.manifest.version}  {result.digest}")


@command()
@arg("bundle", type=Path, help="The .memcube file.")
@arg(
    "--key",
    action="append",
    type=Path,
    help="Trusted public key (PEM); repeatable. Default: your keys and trusted keys.",
)
@flag("--allow-unsigned", help="Accept a bundle without signatures.")
@JSON
def verify(bundle: Path, key: list[Path] | None, allow_unsigned: bool, json_output: bool) -> None:
    """Check every digest, every payload and the signature; exit 0 only if all hold."""
    from memos_client.cli.output import progress_bar
    from mip.archive import read_archive

    with (
        progress_bar(bundle.stat().st_size, f"verify {bundle.name}") as advance,
        read_archive(bundle) as archive,
    ):
        # Hash the blobs from now on: loading keys and the signature code overlaps the hashing.
        archive.start_hashing(advance)
        from memos_client.authoring.verifier import verify_bundle_file
        from memos_client.trust.keystore import load_public_key
        from memos_client.trust.store import trusted_keys

        trusted = {k.key_id: k for k in map(load_public_key, key)} if key else trusted_keys()
        result = verify_bundle_file(
            archive, trusted, allow_unsigned=allow_unsigned, progress=advance
        )
    manifest = result.bundle.manifest
    if json_output:
        from memos_client.cli.output import print_json

        print_json(
            {
                "ok": True,
                "name": manifest.name,
                "version": manifest.version,
                "digest": result.bundle.digest,
                "signers": list(result.signers),
            }
        )
        return
    signers = ", ".join(s[:16] for s in result.signers)
    print(
        f"OK {manifest.name}@{manifest.version} {result.bundle.digest} "
        f"signed by {signers or 'unsigned'}"
    )


@command()
@arg("bundle", type=Path, help="The .memcube file.")
@JSON
def inspect(bundle: Path, json_output: bool) -> None:
    """Show a bundle's manifest, parts, sizes and signers (structure checked, blobs not hashed)."""
    import json

    from memos_client.cli.output import format_size, print_json
    from mip.container import open_bundle

    with open_bundle(bundle) as opened:
        manifest = opened.manifest
        if json_output:
            print_json(
                {
                    "digest": opened.digest,
                    "size": bundle.stat().st_size,
                    "manifest": json.loads(opened.manifest_bytes),
                    "signatures": [{"keyid": k} for k in opened.envelope.key_ids],
                }
            )
            return
        lines = [
            f"{manifest.name} {manifest.version}",
            f"digest:       {opened.digest}",
            f"description:  {manifest.description}",
            f"license:      {manifest.license or '-'}",
            f"created:      {manifest.created.isoformat()}",
            f"keywords:     {', '.join(manifest.keywords) or '-'}",
            f"dependencies: {', '.join(f'{n} {s}' for n, s in manifest.dependencies.items()) or '-'}",
            f"governance:   sensitivity={manifest.governance.sensitivity} "
            f"read={','.join(manifest.governance.access.read)} "
            f"write={','.join(manifest.governance.access.write)}"
            + (
                f" ttl={manifest.governance.ttl_seconds}s"
                if manifest.governance.ttl_seconds
                else ""
            ),
            "parts:",
        ]
        for part in manifest.parts:
            detail = ""
            if part.kind == "plaintext":
                detail = f"{getattr(part, 'count', 0)} memories"
            elif part.kind == "activation":
                detail = f"{getattr(part, 'num_tokens', 0)} tokens, {getattr(part, 'dtype', '')}"
            elif part.kind == "parameter":
                detail = f"LoRA r={getattr(part, 'adapter_config', {}).get('r')}"
            lines.append(
                f"  {part.kind:<10} {part.name:<20} {format_size(part.size):>9}  {detail}  {part.digest[:19]}"
            )
        lines.append("signers:      " + (", ".join(opened.envelope.key_ids) or "unsigned"))
        print("\n".join(lines))
