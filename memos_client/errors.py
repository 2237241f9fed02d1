"""Errors raised by the client, grouped by origin.

The CLI turns each into one line on stderr and an exit code; the exit codes below are those of
the one table, ``memos_client.cli.exit_codes.TABLE`` (a test keeps this tree equal to it)::

    MemosError                      exit 1
    ├── UsageError                  exit 2   the command line or a local file is wrong
    │   ├── SourceError             exit 2   a cube source directory is invalid
    │   ├── DocumentError           exit 2   a document (Markdown, text, HTML, PDF) cannot be read
    │   ├── ImportFormatError       exit 2   a file given to `memos import` is malformed
    │   └── ModelLoadError          exit 2   --model is not a loadable local model directory
    ├── KeyStoreError               exit 1   no signing key / unreadable key
    ├── VerificationError           exit 3   a bundle or download failed verification
    │   └── LogVerificationError    exit 3   the transparency log check failed (``code``:
    │                                        log_fork, log_key_changed, log_unavailable, ...)
    ├── TrustError                  exit 3   a signer is not trusted or changed
    ├── NotFoundError               exit 4   unknown cube, version, memory, principal
    │   └── RegistryNotFoundError   exit 4   the registry has no such cube, version, blob...
    ├── ResolutionError             exit 5   constraints cannot be satisfied
    │   └── BrokenDependentsError   exit 5   it would break (or did break) an installed cube
    ├── RegistryError               exit 6   the registry refused a request (``code``, ``status``)
    │   ├── RegistryNotFoundError   exit 4   (also a NotFoundError) 404: cube_not_found, ...
    │   ├── RegistryAuthError       exit 6   401/403: no, a wrong or an expired token; no scope
    │   ├── RegistryConflictError   exit 6   409: version_exists, name_conflict, ...
    │   ├── RegistryUnavailableError exit 6  5xx: the registry or its storage failed; retry
    │   └── InvalidResponseError    exit 6   the answer breaks the API: a document of the wrong
    │                                        shape or size, a redirect off the web, a signed
    │                                        manifest the registry's copy contradicts
    ├── NetworkError                exit 7   the registry could not be reached or broke off
    │   └── DeadlineExceededError   exit 7   no complete answer within the request's deadline
    ├── AccessDeniedError           exit 8   a governance policy refused the call
    ├── RuntimeStoreError           exit 1   the local runtime store failed
    └── IncompatibleMemoryError     exit 9   a snapshot/adapter does not fit the loaded model

Protocol errors (``mip.errors.MIPError``) raised while reading a bundle map to exit 3 as well.
The stable ``code`` of each error is what ``--json`` error objects carry.

The registry client (:mod:`memos_client.registry`) raises the registry and network errors: an
error answer becomes one of them in one place (``memos_client.registry.answers``), by the
registry's stable code (``mip.registry_api.ErrorCode``), else by its HTTP status; socket, TLS
and protocol failures are translated once, in the transport.
"""

from __future__ import annotations


class MemosError(Exception):
    """Base of every client error; ``code`` is stable (the CLI's exit code for each class is in
    memos_client.cli.exit_codes)."""

    code = "memos_error"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        #: What the error is about (``cube``, ``principal``, ``action``...): a front end turns
        #: it into advice in its own terms (the CLI names a command); messages stay neutral.
        self.details: dict[str, str] = details or {}


class UsageError(MemosError):
    """The command line or a local input file is wrong."""

    code = "usage"


class SourceError(UsageError):
    """A cube source directory (``memcube.toml`` + ``memories/``) is invalid."""

    code = "invalid_source"


class DocumentError(UsageError):
    """A document cannot be read: binary, encrypted, image-only, over the limits, malformed."""

    code = "invalid_document"


class ImportFormatError(UsageError):
    """A file given to ``memos import`` is not valid in its format (names the file and field)."""

    code = "invalid_import"


class ModelLoadError(UsageError):
    """``--model`` does not name a local model directory this client can load."""

    code = "model_load"


class KeyStoreError(MemosError):
    """No usable signing key in ``$MEMOS_HOME/keys``."""

    code = "key_store"


class VerificationError(MemosError):
    """A bundle, blob or download failed verification."""

    code = "verification_failed"


class LogVerificationError(VerificationError):
    """What the registry's transparency log showed does not prove what is being installed
    (spec/MIP-1-registry.md §12.6); ``code`` is the check's stable code (``log_fork``, ...)."""

    code = "log_error"


class TrustError(MemosError):
    """A signer key is not trusted, or differs from the one pinned for its namespace."""

    code = "untrusted"


class NotFoundError(MemosError):
    """An unknown cube, version, memory id or principal."""

    code = "not_found"


class ResolutionError(MemosError):
    """The requested set of cubes cannot be satisfied."""

    code = "unsatisfiable"


class BrokenDependentsError(ResolutionError):
    """An install or uninstall would leave an installed cube without what it depends on (pass
    ``--force``), or ``memos check`` found such a cube."""

    code = "broken_dependents"


class RegistryError(MemosError):
    """The registry answered with an error; ``code`` is the registry's stable code.

    ``status`` is the HTTP status (``None`` when the answer was not an HTTP error, e.g. a
    malformed response body).
    """

    code = "registry_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class RegistryNotFoundError(NotFoundError, RegistryError):
    """The registry has no such cube, version, blob, namespace, upload or token (404)."""

    code = "not_found"


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (401) or their scope (403)."""

    code = "unauthorized"


class RegistryConflictError(RegistryError):
    """The registry's state does not allow the request (409)."""

    code = "conflict"


class RegistryUnavailableError(RegistryError):
    """The registry or a service it depends on failed (5xx): try again later."""

    code = "unavailable"


class InvalidResponseError(RegistryError):
    """The registry answered something the API does not allow: a document of the wrong shape or
    size, a redirect to a non-HTTP URL, or data its own signed manifest contradicts."""

    code = "invalid_response"


class NetworkError(MemosError):
    """The registry could not be reached, or the connection broke off."""

    code = "network"


class DeadlineExceededError(NetworkError):
    """A request got no complete answer within its deadline (a stalled or dripping server)."""

    code = "deadline_exceeded"


class AccessDeniedError(MemosError):
    """A cube's access policy refused the principal."""

    code = "access_denied"


class RuntimeStoreError(MemosError):
    """The local runtime store failed."""

    code = "runtime_store"


class IncompatibleMemoryError(MemosError):
    """A KV snapshot or LoRA adapter cannot be used with the loaded model (``code`` says why).

    Codes: ``foreign_model`` (fingerprint mismatch), ``stale_snapshot`` (its sources changed),
    ``too_long`` (longer than the model's context), ``not_combinable`` (snapshots that cannot be
    joined exactly).
    """

    code = "incompatible_memory"
