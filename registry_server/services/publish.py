"""Publishing a version (spec §4): validate, authorise, verify, commit in one transaction.

Races between clients or server processes are decided by the database's unique constraints: a
publish that loses one rolls back whole and runs again, and then sees the winner's rows (identical
content: success without change; different content: ``version_exists``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mip.digests import Digest
from mip.dsse import Envelope, parse_envelope, verify
from mip.keys import PublicKey
from mip.manifest import decode_manifest, manifest_digest
from mip.models import Manifest
from mip.names import confusable_skeleton, normalize_cube_name
from mip.versions import Version
from registry_server.db.models import (
    Blob,
    Cube,
    CubeVersion,
    Namespace,
    SigningKeyRecord,
    VersionBlob,
    storable_text,
    utcnow,
)
from registry_server.db.session import write_session
from registry_server.errors import (
    BlobMissingError,
    ConflictError,
    NameConflictError,
    SizeMismatchError,
    UnregisteredKeyError,
    VersionExistsError,
)
from registry_server.services.audit import record_event
from registry_server.services.auth import Principal, find_namespace, require
from registry_server.services.catalog.views import record_published_view, registered_keys
from registry_server.services.facets import record_facets
from registry_server.services.payload_checks import check_manifest_payloads
from registry_server.services.publish_guards import authorize_publish, refuse_self_dependency
from registry_server.services.resolve import rebuild_index, version_key
from registry_server.services.search import update_search_entry
from registry_server.services.storage import BlobStore
from registry_server.services.transparency import log_key_registered, log_version_event

#: How often a publish that lost a race is re-run before giving up.
MAX_ATTEMPTS = 4


@dataclass(frozen=True)
class PublishResult:
    """The outcome of a publish."""

    name: str
    version: str
    manifest_digest: str
    created: bool


def publish_version(
    engine: Engine,
    principal: Principal,
    envelope_json: bytes,
    public_key_pem: str | None,
    store: BlobStore | None = None,
) -> PublishResult:
    """Publish the version whose signed manifest ``envelope_json`` carries.

    With ``store``, every stored blob's payload is checked as a client checks it (MIP-1 §7).
    """
    envelope = parse_envelope(envelope_json)
    # The scope is checked before the manifest is decoded: no work for a caller without it.
    authorize_publish(engine, principal, envelope.payload)
    manifest = decode_manifest(envelope.payload)
    refuse_self_dependency(manifest)
    if store is not None:
        check_manifest_payloads(store, manifest)
    publisher_key = PublicKey.from_pem(public_key_pem.encode()) if public_key_pem else None
    for attempt in range(MAX_ATTEMPTS):
        try:
            with write_session(engine) as session:
                result = _publish_once(session, principal, envelope, manifest, publisher_key)
                session.commit()
                return result
        except IntegrityError:
            # Another publish committed a row we also inserted; run again to see its result.
            if attempt == MAX_ATTEMPTS - 1:
                raise
    raise ConflictError("publish kept losing races: retry")  # pragma: no cover


def _check_name(session: Session, namespace: Namespace, name: str) -> Cube | None:
    """The existing cube named ``name``; ``None`` for a new name that collides with nothing."""
    normalized = normalize_cube_name(name)
    # One statement for both lookups: under READ COMMITTED two statements could straddle a
    # concurrent publish's commit and take the new cube for a look-alike of itself. The row lock
    # serialises writers of one cube, so each rebuilds the versions document seeing the others'
    # committed versions (SQLite's BEGIN IMMEDIATE already serialises all writers).
    matches = list(
        session.exec(
            select(Cube)
            .where(
                (Cube.normalized_name == normalized) | (Cube.skeleton == confusable_skeleton(name))
            )
            .with_for_update()
        )
    )
    cube = next((row for row in matches if row.normalized_name == normalized), None)
    if cube is not None:
        if cube.name != name:
            raise NameConflictError(
                f"this cube is registered as {cube.name!r}; the manifest says {name!r}: "
                f"set the manifest name to {cube.name!r}"
            )
        return cube
    if name.split("/")[0] != namespace.name:
        raise NameConflictError(
            f"namespace is registered as {namespace.name!r}; the manifest says "
            f"{name.split('/')[0]!r}: spell it exactly as registered"
        )
    clash = next(iter(matches), None)
    if clash is not None:
        raise NameConflictError(
            f"cube name {name!r} is too close to the existing cube {clash.name!r} (differs only "
            "by case, separators or look-alike characters): choose a distinct name"
        )
    return None


def _check_signature(
    session: Session,
    principal: Principal,
    namespace: Namespace,
    envelope: Envelope,
    publisher_key: PublicKey | None,
) -> None:
    records = list(
        session.exec(select(SigningKeyRecord).where(SigningKeyRecord.namespace_id == namespace.id))
    )
    if not records:
        # Only one first publish may register a key: lock the namespace row, then look again.
        session.exec(
            select(Namespace.id).where(Namespace.id == namespace.id).with_for_update()
        ).first()
        records = list(
            session.exec(
                select(SigningKeyRecord).where(SigningKeyRecord.namespace_id == namespace.id)
            )
        )
    if not records:
        if publisher_key is None:
            raise UnregisteredKeyError(
                f"namespace {namespace.name!r} has no signing key yet: send the signer's public "
                "key with this first publish (memos publish does)"
            )
        verify(envelope, {publisher_key.key_id: publisher_key})
        assert namespace.id is not None
        session.add(
            SigningKeyRecord(
                namespace_id=namespace.id,
                key_id=publisher_key.key_id,
                public_key_pem=publisher_key.to_pem().decode(),
            )
        )
        record_event(
            session,
            principal,
            "key.add",
            namespace=namespace.normalized_name,
            subject=publisher_key.key_id,
            detail={"first_publish": True},
        )
        log_key_registered(session, namespace.normalized_name, publisher_key.key_id, utcnow())
        return
    from registry_server.services.keys import revocations

    revoked = revocations(session, namespace.id)
    trusted = registered_keys(record for record in records if record.key_id not in revoked)
    if set(envelope.key_ids) & set(revoked) and not set(envelope.key_ids) & set(trusted):
        # MIP-1 §6.4: a revoked key signs nothing any more.
        key_id = sorted(set(envelope.key_ids) & set(revoked))[0]
        raise UnregisteredKeyError(
            f"the envelope is signed by key {key_id[:16]}, which was revoked in namespace "
            f"{namespace.name!r} ({revoked[key_id].reason or 'no reason given'}): sign with an "
            "active key (`memos key list` shows them)"
        )
    if not set(envelope.key_ids) & set(trusted):
        signers = ", ".join(key_id[:16] for key_id in envelope.key_ids) or "none"
        raise UnregisteredKeyError(
            f"the envelope is signed by key(s) {signers}, none registered for namespace "
            f"{namespace.name!r}: add the key (POST /v1/namespaces/"
            f"{namespace.normalized_name}/keys) or sign with a registered one"
        )
    verify(envelope, trusted)


def _check_blobs(session: Session, manifest: Manifest) -> dict[Digest, int]:
    sizes = manifest.blob_sizes()
    if not sizes:
        return sizes
    stored = {
        blob.digest: blob.size
        for blob in session.exec(select(Blob).where(col(Blob.digest).in_(list(sizes))))
    }
    missing = sorted(digest for digest in sizes if digest not in stored)
    if missing:
        raise BlobMissingError(
            f"{len(missing)} blob(s) referenced by the manifest are not uploaded: "
            f"{', '.join(missing)}; upload them first (PUT /v1/blobs/{{digest}})"
        )
    wrong = [f"{d} is {stored[d]} bytes, declared {s}" for d, s in sizes.items() if stored[d] != s]
    if wrong:
        raise SizeMismatchError(f"blob sizes disagree with the manifest: {'; '.join(wrong)}")
    return sizes


def _publish_once(
    session: Session,
    principal: Principal,
    envelope: Envelope,
    manifest: Manifest,
    publisher_key: PublicKey | None,
) -> PublishResult:
    namespace_text = manifest.name.split("/")[0]
    namespace = find_namespace(session, namespace_text)
    require(principal, "publish", namespace)
    cube = _check_name(session, namespace, manifest.name)
    digest = manifest_digest(envelope.payload)
    key = version_key(manifest.version)
    if cube is not None:
        existing = session.exec(
            select(CubeVersion).where(
                CubeVersion.cube_id == cube.id, CubeVersion.version_key == key
            )
        ).first()
        if existing is not None:
            if existing.manifest_digest == digest:
                return PublishResult(cube.name, existing.version, digest, created=False)
            raise VersionExistsError(
                f"{cube.name} {existing.version} is already published with different content "
                f"(manifest {existing.manifest_digest}); versions are immutable: publish a new "
                "version"
            )
    _check_signature(session, principal, namespace, envelope, publisher_key)
    sizes = _check_blobs(session, manifest)

    now = utcnow()
    if cube is None:
        assert namespace.id is not None
        cube = Cube(
            namespace_id=namespace.id,
            name=manifest.name,
            normalized_name=normalize_cube_name(manifest.name),
            skeleton=confusable_skeleton(manifest.name),
        )
        session.add(cube)
        session.flush()
    assert cube.id is not None
    version = CubeVersion(
        cube_id=cube.id,
        version=manifest.version,
        version_key=key,
        manifest_digest=digest,
        envelope=envelope.to_json(),
        dependencies=dict(manifest.dependencies),
        parts=[
            {
                "name": part.name,
                "kind": part.kind,
                "media_type": part.media_type,
                "digest": part.digest,
                "size": part.size,
            }
            for part in manifest.parts
        ],
        total_size=sum(sizes.values()),
        published_at=now,
    )
    session.add(version)
    session.flush()
    assert version.id is not None
    for blob_digest in sizes:
        session.add(VersionBlob(version_id=version.id, digest=blob_digest))
    record_facets(session, version, manifest)
    record_published_view(session, version, envelope, manifest)
    # The cube's search text follows its highest version.
    previous = [
        Version.parse(row)
        for row in session.exec(
            select(CubeVersion.version).where(
                CubeVersion.cube_id == cube.id, CubeVersion.id != version.id
            )
        )
    ]
    if not previous or Version.parse(manifest.version) > max(previous):
        cube.description = storable_text(manifest.description)
        cube.keywords = [storable_text(keyword) for keyword in manifest.keywords]
        # MIP-1 defines no manifest `tags` (search terms are `keywords`, §5.2): an unknown field
        # is kept in the manifest and never read (§2). The column stays empty until dropped.
        cube.tags = []
    cube.updated_at = now
    session.flush()
    rebuild_index(session, cube)
    update_search_entry(session, cube)
    record_event(
        session,
        principal,
        "version.publish",
        namespace=namespace.normalized_name,
        subject=f"{cube.name}@{manifest.version}",
        detail={"manifest_digest": digest, "signers": envelope.key_ids},
    )
    # Last: the log's lock is the last one every writer takes (no lock-order cycles).
    log_version_event(session, "publish", cube.name, version, now, envelope.key_ids)
    return PublishResult(cube.name, manifest.version, digest, created=True)


def set_yanked(
    engine: Engine,
    principal: Principal,
    namespace: str,
    name: str,
    version: str,
    reason: str | None,
) -> dict[str, Any]:
    """Yank (``reason`` given) or unyank (``None``) a version; idempotent and audited."""
    from registry_server.services.resolve import find_cube, find_version, version_object

    with write_session(engine) as session:
        cube = find_cube(session, namespace, name, lock=True)
        namespace_row = session.get(Namespace, cube.namespace_id)
        assert namespace_row is not None
        require(principal, "yank", namespace_row)
        row = find_version(session, cube, version)
        changed = row.yanked != (reason is not None)
        row.yanked = reason is not None
        row.yank_reason = reason
        session.add(row)
        session.flush()
        rebuild_index(session, cube)
        record_event(
            session,
            principal,
            "version.yank" if reason is not None else "version.unyank",
            namespace=namespace_row.normalized_name,
            subject=f"{cube.name}@{row.version}",
            detail={"reason": reason} if reason else {},
        )
        if changed:  # a repeated yank (a new reason) changes nothing a client checks
            log_version_event(
                session, "yank" if reason is not None else "unyank", cube.name, row, utcnow()
            )
        result = {"name": cube.name, **version_object(row)}
        session.commit()
        return result
