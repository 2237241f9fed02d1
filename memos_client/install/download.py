"""``memos download``: verified ``.memcube`` files of resolved cubes, nothing installed.

The install path up to the install step (:mod:`memos_client.install.workflow`: resolve,
authenticate each envelope against the trust rules, download the blobs into the cache hashing
each, validate the manifest), then each cube is written as a bundle from the cache: its blobs
hashed once more as they are copied, its signed manifest and envelope as the registry served
them. No pin is saved and nothing is installed (like ``pip download``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from memos_client.errors import VerificationError
from memos_client.install.requirements import Requirement
from memos_client.install.resolver import resolve
from memos_client.install.session import Options, open_session
from memos_client.install.steps import authenticate_resolved, downloading


class Downloaded(msgspec.Struct):
    """One bundle written by ``memos download``."""

    name: str
    version: str
    manifest_digest: str
    path: Path
    size: int
    signers: tuple[str, ...]
    yanked: bool = False
    yank_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form for ``--json``."""
        document = {f: getattr(self, f) for f in self.__struct_fields__}
        return document | {"path": str(self.path), "signers": list(self.signers)}


def bundle_file_name(name: str, version: str) -> str:
    """``namespace-name-version.memcube`` (the name ``memos pack`` gives a bundle)."""
    return f"{name.replace('/', '-')}-{version}.memcube"


def download(
    requirements: Sequence[Requirement], options: Options, directory: Path
) -> list[Downloaded]:
    """Resolve, verify and download ``requirements`` (with their dependencies unless
    ``options.no_deps``) and write one ``.memcube`` per cube into ``directory``."""
    from mip.bundle_writer import BundleWriter

    session = open_session(options)
    try:
        resolved = resolve(requirements, session.registry, with_dependencies=not options.no_deps)
        cubes = authenticate_resolved(session, resolved)
        with downloading(session, cubes):
            for cube in cubes:
                session.validate(cube)
            # In the transparency log, as an install requires (nothing is stored: no pin, no
            # checkpoint -- a download changes no state of this home).
            exact = {str(r.name) for r in requirements if r.exact_pin}
            session.check_log([cube.candidate for cube in cubes], exact)
    finally:
        session.close()
    written = []
    for cube in cubes:
        name, version = str(cube.candidate.name), cube.candidate.version_text
        destination = directory / bundle_file_name(name, version)
        with BundleWriter(destination) as writer:
            for digest in cube.blobs:
                copied, _ = writer.add_blob_file(options.cache.blob_path(digest))
                if copied != digest:
                    raise VerificationError(
                        f"cached blob {digest} of {name} {version} no longer matches its digest "
                        "(changed on disk): run `memos cache verify`, then download again"
                    )
            path = writer.finish(cube.manifest_bytes, cube.envelope_bytes)
        written.append(
            Downloaded(
                name,
                version,
                str(cube.candidate.manifest_digest),
                path,
                path.stat().st_size,
                cube.signers,
                cube.candidate.yanked,
                cube.candidate.yank_reason,
            )
        )
    return written
