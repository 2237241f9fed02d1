"""schemathesis against the committed OpenAPI document and a real registry, on a fixed budget.

Every operation of ``schemas/openapi.json`` is called with generated requests (valid and not),
each with a fresh token for a namespace of its own, against a real server process in both
configurations. Checked: no 5xx server error, every status code documented, every documented
body and header matching its schema, content types as documented, 405 with an ``Allow`` header
listing the resource's methods, and auth enforced where the document declares it. Schema-valid
values may still be refused (400): the document types names, versions and specifiers as strings,
and their grammar lives in MIP-1, so ``positive_data_acceptance`` is not among the checks.

The budget is fixed and the generation deterministic (Hypothesis ``derandomize``): the same
cases every run. ``MEMSTORE_FUZZ_EXAMPLES`` raises the number of examples per operation for a
longer run by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from registry_server.services.auth import commit_bootstrap_token
from tests.registry.conftest import Registry
from tests.registry.cube_helpers import unique

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"
#: Examples per operation and configuration (26 operations, 2 configurations).
EXAMPLES = int(os.environ.get("MEMSTORE_FUZZ_EXAMPLES", "20"))

schema = schemathesis.openapi.from_path(COMMITTED)
# Every case names the server it runs against (the fixture's); this one is never reached.
schema.config.update(base_url="http://127.0.0.1:9")
schema.config.generation.update(max_examples=EXAMPLES, deterministic=True)

#: The registry the current test runs against (set by the test, read by the auth provider).
_current: dict[str, Registry] = {}
#: What cases made before any test runs (schemathesis prepares some at collection) carry.
_PENDING = "mst_pending"


_engines: dict[str, Any] = {}


def _fresh_token() -> str:
    """A token for a new namespace, bootstrapped through one engine per registry."""
    registry = _current.get("registry")
    if registry is None:
        return _PENDING
    engine = _engines.get(registry.url)
    if engine is None:
        engine = _engines[registry.url] = registry.engine()
    return commit_bootstrap_token(engine, unique("fuzz"), None, 1)


@pytest.fixture(scope="module", autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    for engine in _engines.values():
        engine.dispose()


@schema.auth(refresh_interval=None)
class FreshToken:
    """A new token for a namespace of its own per case: no case can revoke another's token."""

    def get(self, case: Any, context: Any) -> str:
        return _fresh_token()

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.parametrize()
def test_the_api_keeps_its_documented_promises(case: Any, registry: Registry) -> None:
    _current["registry"] = registry
    if (case.headers or {}).get("Authorization") == f"Bearer {_PENDING}":
        case.headers["Authorization"] = f"Bearer {_fresh_token()}"
    case.call_and_validate(
        base_url=registry.url, excluded_checks=[positive_data_acceptance], timeout=30
    )
