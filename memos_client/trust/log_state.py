"""What this home remembers of each registry's transparency log (spec/MIP-1-registry.md §12.6).

``$MEMOS_HOME/trust/log.json``, per registry URL:

- ``verifier_key``: the log's C2SP verifier key, pinned on first use like a namespace key; a
  registry that later signs with another key is refused (``log_key_changed``);
- ``checkpoint``: the last signed checkpoint this home accepted; every later one must extend it
  (a consistency proof), so a registry cannot fork or rewrite the history this home has seen;
- ``version_events``: the latest yank or unyank of each version read from the log since the
  first checkpoint (``"NS/NAME VERSION" -> {"event", "index"}``), so a registry that hides a
  yank it logged is caught;
- ``proofs``: one C2SP tlog-proof per installed manifest digest, re-checked offline by
  ``memos install --offline`` and ``memos log verify --offline``;
- ``watched``: per namespace, the tree size ``memos log watch`` last read up to.

Written atomically (temp file, then rename) after a command's checks all passed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from memos_client.config import private_dir
from memos_client.errors import UsageError
from memos_client.trust.atomic_files import write_atomic
from memos_client.trust.store import trust_dir
from mip.errors import MIPError
from mip.transparency.note import NoteVerifier, parse_verifier_key

LOG_FILE = "log.json"


class VersionEvent(msgspec.Struct, frozen=True):
    """The latest yank or unyank of a version seen in the log, and its entry index."""

    event: str
    index: int


class RegistryLog(msgspec.Struct, kw_only=True):
    """This home's state for one registry's log."""

    verifier_key: str
    pinned_at: str = msgspec.field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    checkpoint: str | None = None
    version_events: dict[str, VersionEvent] = msgspec.field(default_factory=dict)
    proofs: dict[str, str] = msgspec.field(default_factory=dict)
    watched: dict[str, int] = msgspec.field(default_factory=dict)

    def verifier(self) -> NoteVerifier:
        """The pinned key as a note verifier."""
        return parse_verifier_key(self.verifier_key)


class LogStates(msgspec.Struct):
    """Every registry's state, by registry URL."""

    registries: dict[str, RegistryLog] = msgspec.field(default_factory=dict)


def version_key(name: str, version: str) -> str:
    """The key of a version in :attr:`RegistryLog.version_events`."""
    return f"{name} {version}"


def log_file(home: Path | None = None) -> Path:
    """Where the log state lives."""
    return trust_dir(home) / LOG_FILE


def load_log_states(home: Path | None = None) -> LogStates:
    """The stored log state; a file this client did not write is refused, naming it."""
    path = log_file(home)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return LogStates()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}; fix or remove it") from exc
    try:
        states = msgspec.json.decode(data, type=LogStates)
        for state in states.registries.values():
            state.verifier()  # a key that does not parse is as bad as malformed JSON
    except (msgspec.DecodeError, msgspec.ValidationError, MIPError) as exc:
        raise UsageError(
            f"{path} is not a transparency log state file ({exc}); remove it to pin every "
            "registry's log key again on first use"
        ) from exc
    return states


def save_log_states(states: LogStates, home: Path | None = None) -> None:
    """Write the log state atomically."""
    path = log_file(home)
    private_dir(path.parent)  # MEMOS_HOME is private whatever the umask (memos_client.config)
    document: dict[str, Any] = msgspec.to_builtins(states)
    write_atomic(path, json.dumps(document, indent=2, sort_keys=True).encode())
