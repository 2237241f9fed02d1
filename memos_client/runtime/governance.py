"""Governance: local principals and each cube's access policy, enforced on every call.

A cube's policy is the ``access`` of its governance (MIP-1 §5.3): ``read`` and ``write`` lists
of local principal names, ``"*"`` meaning anyone, and a local ``admin`` list: who may change the
policy itself. Writing is not granting: a principal that may only write a cube cannot give itself
(or anyone) read access. The owner ``local`` administers every cube; a principal that creates a
local cube administers it. A refused call raises
:class:`~memos_client.errors.AccessDeniedError` and leaves an ``outcome='denied'`` audit entry,
written in its own transaction so the refusal is recorded even though the call does nothing.
The principal ``local`` (the owner of the store) always exists and may change policies.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from memos_client.errors import AccessDeniedError, NotFoundError, UsageError
from memos_client.runtime.memory_types import to_rfc3339, utc_now
from memos_client.runtime.store.database import Store

#: The owner of the store: always known, allowed to set policies and add principals.
OWNER = "local"
ANYONE = "*"
_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")

Action = Literal["read", "write", "admin"]
_VERBS = {"read": "read", "write": "write", "admin": "change the access policy of"}


def validate_principal_name(name: str) -> str:
    """A principal name: 1-64 lower-case letters, digits, '.', '_' or '-'."""
    if not isinstance(name, str) or not _PRINCIPAL.fullmatch(name):
        raise UsageError(
            f"invalid principal name {name!r}: use 1-64 lower-case letters, digits, '.', '_', '-'"
        )
    return name


def access_lists(governance: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The ``(read, write)`` principal lists of a governance dict (both ``["*"]`` by default)."""
    access = governance.get("access") or {}
    read = access.get("read", [ANYONE])
    write = access.get("write", [ANYONE])
    return list(read), list(write)


def admin_list(governance: dict[str, Any]) -> list[str]:
    """Who may change a cube's policy besides the owner (nobody by default)."""
    access = governance.get("access") or {}
    return list(access.get("admin", []))


class Governor:
    """Answers "may this principal do this to that cube?" and records every refusal."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.write() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO principals (name, created) VALUES (?, ?)",
                (OWNER, to_rfc3339(utc_now())),
            )

    def principals(self) -> list[str]:
        """Every known principal name, sorted."""
        return [row[0] for row in self.store.query("SELECT name FROM principals ORDER BY name")]

    def add_principal(self, acting: str, name: str) -> None:
        """Register a local principal (only the owner may)."""
        validate_principal_name(name)
        if acting != OWNER:
            self.refuse(acting, "principal.add", None, f"only {OWNER!r} may add principals")
        with self.store.write() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO principals (name, created) VALUES (?, ?)",
                (name, to_rfc3339(utc_now())),
            )
            self.store.audit(connection, acting, "principal.add", target=name)

    def check_principal(self, principal: str) -> None:
        """Raise :class:`NotFoundError` for a principal that was never added."""
        rows = self.store.query("SELECT 1 FROM principals WHERE name = ?", [principal])
        if not rows:
            known = ", ".join(self.principals())
            raise NotFoundError(
                f"unknown principal {principal!r} (known: {known}); {OWNER!r} can add it",
                code="unknown_principal",
                details={"principal": principal},
            )

    def governance(self, cube: str) -> dict[str, Any]:
        """The governance dict of a cube; :class:`NotFoundError` for an unknown cube."""
        rows = self.store.query("SELECT governance FROM cubes WHERE name = ?", [cube])
        if not rows:
            raise NotFoundError(f"unknown cube {cube!r}", code="unknown_cube")
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def allows(self, principal: str, governance: dict[str, Any], action: Action) -> bool:
        """Whether ``governance`` lets ``principal`` do ``action``."""
        if action == "admin":
            return principal == OWNER or principal in admin_list(governance)
        read, write = access_lists(governance)
        allowed = read if action == "read" else write
        return ANYONE in allowed or principal in allowed

    def require(self, principal: str, cube: str, action: Action, what: str) -> dict[str, Any]:
        """Return the cube's governance, or log the refusal and raise AccessDeniedError."""
        governance = self.governance(cube)
        if not self.allows(principal, governance, action):
            self.refuse(
                principal,
                what,
                cube,
                f"principal {principal!r} may not {_VERBS[action]} cube {cube!r}; "
                "its owner can grant it",
                {"cube": cube, "action": action, "principal": principal},
            )
        return governance

    def cubes_allowing(self, principal: str, action: Action) -> set[str]:
        """Every cube ``principal`` may ``action`` (``read``, ``write`` or ``admin``)."""
        rows = self.store.query("SELECT name, governance FROM cubes")
        return {
            name
            for name, governance in rows
            if self.allows(principal, json.loads(governance), action)
        }

    def refuse(
        self,
        principal: str,
        action: str,
        cube: str | None,
        message: str,
        details: dict[str, str] | None = None,
    ) -> None:
        """Record a refusal in the audit log, then raise it."""
        with self.store.write() as connection:
            self.store.audit(
                connection, principal, action, cube=cube, outcome="denied", detail=message
            )
        raise AccessDeniedError(message, details=details)

    def set_access(
        self,
        principal: str,
        cube: str,
        read: list[str] | None,
        write: list[str] | None,
        admin: list[str] | None = None,
    ) -> dict[str, Any]:
        """Change who may read, write and administer a cube (the owner or one of its admins)."""
        self.require(principal, cube, "admin", "access.set")
        for name in [*(read or []), *(write or []), *(admin or [])]:
            if name != ANYONE:
                validate_principal_name(name)
                self.check_principal(name)
        if admin is not None and ANYONE in admin:
            raise UsageError("--admin names principals; '*' (anyone) cannot administer a cube")
        governance = self.governance(cube)
        access = dict(governance.get("access") or {})
        for key, names in (("read", read), ("write", write), ("admin", admin)):
            if names is not None:
                access[key] = names
        governance["access"] = access
        with self.store.write() as connection:
            connection.execute(
                "UPDATE cubes SET governance = ? WHERE name = ?",
                (json.dumps(governance, sort_keys=True), cube),
            )
            self.store.audit(
                connection, principal, "access.set", cube=cube, detail=json.dumps(access)
            )
        return governance
