"""Bundle commands: ``keygen``, ``init``, ``pack``, ``verify``, ``inspect`` (MIP v1 bundles)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from memos_client.cli.app import app

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


@app.command()
def keygen(
    name: Annotated[str, typer.Option(help="Key name in $MEMOS_HOME/keys.")] = "default",
    force: Annotated[bool, typer.Option(help="Replace an existing key of that name.")] = False,
) -> None:
    """Create an Ed25519 signing key under $MEMOS_HOME/keys and print its key id."""
    from memos_client.keystore import generate_key, keys_dir

    key = generate_key(name, force=force)
    typer.echo(key.key_id)
    typer.echo(f"private key: {keys_dir() / (name + '.key')} (mode 0600)", err=True)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create.")],
    name: Annotated[str, typer.Option("--name", help="Cube name, namespace/name.")],
) -> None:
    """Scaffold a cube source directory: memcube.toml and memories/."""
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
    (directory / "memories").mkdir(parents=True, exist_ok=True)
    (directory / "memcube.toml").write_text(_SAMPLE_TOML.format(name=name), "utf-8")
    sample = directory / "memories" / "notes.jsonl"
    if not sample.exists():
        sample.write_text(_SAMPLE_JSONL, "utf-8")
    typer.echo(
        f"created {directory}: edit memcube.toml, add memories/*.jsonl or *.md, then `memos pack`"
    )


@app.command()
def pack(
    directory: Annotated[Path, typer.Argument(help="Cube source directory.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output .memcube file.")
    ] = None,
    key: Annotated[
        str, typer.Option("--key", help="Signing key name in $MEMOS_HOME/keys, or a PEM file.")
    ] = "default",
    unsigned: Annotated[
        bool, typer.Option(help="Do not sign (installs then need --allow-unsigned).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Build and sign a .memcube bundle from a cube source directory."""
    from memos_client.cli.output import print_json
    from memos_client.keystore import load_signing_key
    from memos_client.packer import pack as pack_bundle

    keys = [] if unsigned else [load_signing_key(key)]
    result = pack_bundle(directory, output, keys)
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
        typer.echo(
            f"{result.path}  {result.manifest.name}@{result.manifest.version}  {result.digest}"
        )


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="The .memcube file.")],
    key: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            help="Trusted public key (PEM); repeatable. Default: your keys and trusted keys.",
        ),
    ] = None,
    allow_unsigned: Annotated[
        bool, typer.Option(help="Accept a bundle without signatures.")
    ] = False,
) -> None:
    """Check every digest, every payload and the signature; exit 0 only if all hold."""
    from memos_client.cli.output import progress_bar
    from mip.archive import read_archive

    with (
        progress_bar(bundle.stat().st_size, "verifying") as advance,
        read_archive(bundle) as archive,
    ):
        # Hash the blobs from now on: loading keys and the signature code overlaps the hashing.
        archive.start_hashing(advance)
        from memos_client.keystore import load_public_key
        from memos_client.trust import trusted_keys
        from memos_client.verifier import verify_bundle_file

        trusted = {k.key_id: k for k in map(load_public_key, key)} if key else trusted_keys()
        result = verify_bundle_file(
            archive, trusted, allow_unsigned=allow_unsigned, progress=advance
        )
    manifest, signers = result.bundle.manifest, ", ".join(s[:16] for s in result.signers)
    typer.echo(
        f"OK {manifest.name}@{manifest.version} {result.bundle.digest} "
        f"signed by {signers or 'unsigned'}"
    )


@app.command()
def inspect(
    bundle: Annotated[Path, typer.Argument(help="The .memcube file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
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
        typer.echo("\n".join(lines))
