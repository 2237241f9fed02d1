"""Errors raised by the registry's services; one FastAPI handler turns each into JSON.

Every error carries a stable ``code`` (spec/MIP-1-registry.md §9) and the HTTP status it maps to.
Protocol errors (``mip.errors.MIPError``) keep their own codes and answer 400. Foreign exceptions
(sqlalchemy, botocore) are translated once, at the boundary, into the two ``*Unavailable`` errors.
Every error answer's body, whoever writes it (the handler, the hot-read and body-guard
middlewares), comes from :func:`error_document`. The hierarchy::

    RegistryError                          (status, code)
    ├── BadRequestError                    400 invalid_request
    │   ├── DigestMismatchError            400 digest_mismatch
    │   ├── UploadIncompleteError          400 upload_incomplete
    │   ├── BlobMissingError               400 blob_missing
    │   ├── SizeMismatchError              400 size_mismatch
    │   ├── InvalidRangeError              400 invalid_range
    │   ├── InvalidTreeSizeError           400 invalid_tree_size
    │   └── SelfDependencyError            400 self_dependency
    ├── UnauthorizedError                  401 unauthorized
    │   └── TokenExpiredError              401 token_expired
    ├── ForbiddenError                     403 forbidden
    │   └── UnregisteredKeyError           403 unregistered_key
    ├── NotFoundError                      404 not_found (+ cube_not_found, version_not_found, ...)
    ├── ConflictError                      409
    │   ├── VersionExistsError             409 version_exists
    │   ├── NameConflictError              409 name_conflict
    │   └── UploadOffsetMismatchError      409 upload_offset_mismatch
    ├── BlobTooLargeError                  413 blob_too_large
    ├── RangeNotSatisfiableError           416 range_not_satisfiable
    └── UnavailableError                   503
        ├── DatabaseUnavailableError       503 database_unavailable
        ├── StorageUnavailableError        503 storage_unavailable
        └── LogUnavailableError            503 log_unavailable (+ log_key_mismatch at start-up)
"""

from __future__ import annotations


def error_document(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every error answer (spec §1): ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}


class RegistryError(Exception):
    """Base of every registry error: ``status`` is the HTTP status, ``code`` the stable code."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The one-line message for people."""
        return str(self)


class BadRequestError(RegistryError):
    """The request does not fit the API."""

    status = 400
    code = "invalid_request"


class DigestMismatchError(BadRequestError):
    """Uploaded bytes do not hash to the digest they were sent under."""

    code = "digest_mismatch"


class UploadIncompleteError(BadRequestError):
    """Fewer bytes arrived than were declared."""

    code = "upload_incomplete"


class BlobMissingError(BadRequestError):
    """A blob the manifest references has not been uploaded."""

    code = "blob_missing"


class SizeMismatchError(BadRequestError):
    """A stored blob is not the size the manifest declares."""

    code = "size_mismatch"


class InvalidRangeError(BadRequestError):
    """A ``Range`` header that is not a well-formed ``bytes=`` range set."""

    code = "invalid_range"


class InvalidTreeSizeError(BadRequestError):
    """A transparency log tree size or entry index outside the log (or sizes in wrong order)."""

    code = "invalid_tree_size"


class SelfDependencyError(BadRequestError):
    """A manifest lists its own cube among its dependencies."""

    code = "self_dependency"


class UnauthorizedError(RegistryError):
    """No token, or a token the registry does not know."""

    status = 401
    code = "unauthorized"


class TokenExpiredError(UnauthorizedError):
    """The token is past its expiry time."""

    code = "token_expired"


class ForbiddenError(RegistryError):
    """The token is valid but lacks the namespace or the action."""

    status = 403
    code = "forbidden"


class UnregisteredKeyError(ForbiddenError):
    """The envelope is signed by a key the namespace has not registered."""

    code = "unregistered_key"


class NotFoundError(RegistryError):
    """A cube, version, blob, namespace or upload session does not exist."""

    status = 404
    code = "not_found"


class ConflictError(RegistryError):
    """The request conflicts with the registry's state."""

    status = 409
    code = "conflict"


class VersionExistsError(ConflictError):
    """The version is already published with different content."""

    code = "version_exists"


class NameConflictError(ConflictError):
    """A new name collides with an existing one by case, separators or look-alikes."""

    code = "name_conflict"


class UploadOffsetMismatchError(ConflictError):
    """A chunk was sent at an offset other than the session's current one."""

    code = "upload_offset_mismatch"


class BlobTooLargeError(RegistryError):
    """The upload is over a size limit."""

    status = 413
    code = "blob_too_large"


class RangeNotSatisfiableError(RegistryError):
    """The requested byte range lies outside the blob."""

    status = 416
    code = "range_not_satisfiable"


class UnavailableError(RegistryError):
    """A dependency of the registry failed; the client may retry."""

    status = 503
    code = "unavailable"


class DatabaseUnavailableError(UnavailableError):
    """The database failed or could not be reached."""

    code = "database_unavailable"


class StorageUnavailableError(UnavailableError):
    """The blob storage failed or could not be reached."""

    code = "storage_unavailable"


class LogUnavailableError(UnavailableError):
    """The transparency log cannot be appended to or read (not set up, or its key differs)."""

    code = "log_unavailable"
