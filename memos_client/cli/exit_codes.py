"""The one table of exit codes: what each failure of `memos` exits with, by meaning.

Every error a command meets is one of the classes below (or a subclass: the nearest listed
ancestor decides), so the same meaning exits with the same code from every command -- a cube
the registry does not have is 4 for ``show``, ``install`` and ``download`` alike. docs/cli.md
prints this table; a test keeps the two equal.
"""

from __future__ import annotations

from enum import IntEnum

from memos_client import errors
from mip.errors import MIPError


class ExitCode(IntEnum):
    """What `memos` exits with (scripts may rely on these; they never change meaning)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    VERIFICATION = 3
    NOT_FOUND = 4
    RESOLUTION = 5
    REGISTRY = 6
    NETWORK = 7
    ACCESS_DENIED = 8
    INCOMPATIBLE = 9
    INTERRUPTED = 130


#: What each code means (docs/cli.md prints these lines).
MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "",
    ExitCode.FAILURE: "a local failure (key store, runtime store, file system, output encoding)",
    ExitCode.USAGE: "the command line or a local input file is wrong",
    ExitCode.VERIFICATION: "a bundle, blob or signer failed verification or trust",
    ExitCode.NOT_FOUND: "no such cube, version, memory, principal (locally or on the registry)",
    ExitCode.RESOLUTION: "the requirements cannot be satisfied together",
    ExitCode.REGISTRY: "the registry refused the request (auth, conflict, outage, bad answer)",
    ExitCode.NETWORK: "the registry could not be reached, or broke off, or was too slow",
    ExitCode.ACCESS_DENIED: "a governance policy refused the caller",
    ExitCode.INCOMPATIBLE: "a KV snapshot or adapter does not fit the model",
    ExitCode.INTERRUPTED: "Ctrl-C (128 + SIGINT, as shells report it)",
}


def markdown_table() -> str:
    """The table docs/cli.md shows (between its exit-codes markers)."""
    rows = ["| code | meaning |", "|---|---|"]
    for code, meaning in MEANING.items():
        label = code.name.lower()
        rows.append(
            f"| {int(code)} | {label}: {meaning} |" if meaning else f"| {int(code)} | {label} |"
        )
    return "\n".join(rows)


#: Error class -> exit code. Lookup walks the error's MRO, so order does not matter; a class
#: that is two things (RegistryNotFoundError: registry and not found) is listed explicitly.
TABLE: dict[type[BaseException], ExitCode] = {
    errors.MemosError: ExitCode.FAILURE,
    errors.UsageError: ExitCode.USAGE,
    errors.KeyStoreError: ExitCode.FAILURE,
    errors.VerificationError: ExitCode.VERIFICATION,
    errors.TrustError: ExitCode.VERIFICATION,
    errors.NotFoundError: ExitCode.NOT_FOUND,
    errors.RegistryNotFoundError: ExitCode.NOT_FOUND,
    errors.ResolutionError: ExitCode.RESOLUTION,
    errors.RegistryError: ExitCode.REGISTRY,
    errors.NetworkError: ExitCode.NETWORK,
    errors.AccessDeniedError: ExitCode.ACCESS_DENIED,
    errors.RuntimeStoreError: ExitCode.FAILURE,
    errors.IncompatibleMemoryError: ExitCode.INCOMPATIBLE,
    # Not ours: a bundle or name that is not valid MIP fails verification.
    MIPError: ExitCode.VERIFICATION,
    KeyboardInterrupt: ExitCode.INTERRUPTED,
    OSError: ExitCode.FAILURE,
    UnicodeEncodeError: ExitCode.FAILURE,
}

#: The stable code of the errors that carry none (``--json`` error objects name it).
_CODES: dict[type[BaseException], str] = {
    KeyboardInterrupt: "interrupted",
    OSError: "file_system",
    UnicodeEncodeError: "encoding",
}


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code of ``error``: that of its nearest class in :data:`TABLE`."""
    for kind in type(error).__mro__:
        if kind in TABLE:
            return TABLE[kind]
    return ExitCode.FAILURE


def error_code_for(error: BaseException) -> str:
    """The stable code of ``error``: its ``code``, else one by kind."""
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    for kind in type(error).__mro__:
        if kind in _CODES:
            return _CODES[kind]
    return "error"
