"""What a publish request must pass before the registry spends work on its manifest (spec §4).

A manifest is decoded strictly (schema, limits, duplicate keys) only for a caller allowed to
publish to the namespace it names: :func:`manifest_namespace` parses the JSON in one linear pass
and reads just its ``name``, and :func:`authorize_publish` checks the token's scope against it. The full
decode that follows re-checks the scope with the decoded name (a manifest whose ``name`` appears
twice is refused by that decode). :func:`refuse_self_dependency` refuses a version that names its
own cube as a dependency, which no resolver can satisfy usefully.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine

from mip.errors import ManifestError, MIPError
from mip.limits import DEFAULT_LIMITS, Limits
from mip.models import Manifest
from mip.names import normalize_cube_name
from registry_server.db.session import read_session
from registry_server.errors import SelfDependencyError
from registry_server.services.auth import Principal, find_namespace, require, require_action


def manifest_namespace(payload: bytes, limits: Limits = DEFAULT_LIMITS) -> str:
    """The namespace segment of the manifest's ``name``, read without validating the rest.

    The JSON is parsed as the manifest decoder parses it (the same syntax accepted), in one
    linear pass with no per-object checks; duplicate keys are left to that decoder.
    """
    if len(payload) > limits.max_manifest_bytes:
        raise ManifestError(
            f"manifest is {len(payload)} bytes, over the {limits.max_manifest_bytes}-byte limit"
        )
    try:
        document = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"invalid manifest: not UTF-8 JSON ({exc})") from exc
    name = document.get("name") if isinstance(document, dict) else None
    if not isinstance(name, str):
        raise ManifestError(
            "invalid manifest: it must be a JSON object whose 'name' is the cube's 'namespace/name'"
        )
    try:
        normalize_cube_name(name)
    except MIPError as exc:
        # As the full decode says it: a bad name inside a manifest is an invalid manifest.
        raise ManifestError(f"invalid manifest: name: {exc}") from exc
    return name.partition("/")[0]


def authorize_publish(engine: Engine, principal: Principal, payload: bytes) -> None:
    """Refuse (403/404) a caller that may not publish to the namespace the manifest names."""
    require_action(principal, "publish")
    namespace = manifest_namespace(payload)
    with read_session(engine) as session:
        require(principal, "publish", find_namespace(session, namespace))


def refuse_self_dependency(manifest: Manifest) -> None:
    """Refuse a manifest that lists its own cube (under any spelling) among its dependencies."""
    own = normalize_cube_name(manifest.name)
    for dependency, specifier in manifest.dependencies.items():
        if normalize_cube_name(dependency) == own:
            raise SelfDependencyError(
                f"{manifest.name} {manifest.version} declares a dependency on its own cube "
                f"({dependency!r} {specifier!r}): a cube cannot depend on itself; remove that "
                "dependency from the manifest and publish again"
            )
