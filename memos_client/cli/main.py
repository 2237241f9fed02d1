"""Entry point of `memos`: registers the command modules and maps errors to one line + exit code."""

from __future__ import annotations

import gc
import importlib
import sys

from memos_client.cli.app import dispatch
from memos_client.errors import MemosError

#: The module (under ``memos_client.cli``) that registers each top-level command or group.
#: ``memos COMMAND ...`` imports only that module; ``memos``, ``memos --help`` and an unknown
#: command import them all (in this order), so help lists every command and suggestions work.
COMMAND_MODULES = {
    **dict.fromkeys(("keygen", "init", "pack", "verify", "inspect"), "bundle_commands"),
    "cache": "cache_commands",
    **dict.fromkeys(("install", "uninstall", "list", "show", "lock", "sync"), "install_commands"),
    **dict.fromkeys(("activate", "consolidate", "generate"), "model_commands"),
    **dict.fromkeys(("login", "publish", "yank", "search", "token"), "registry_commands"),
    **dict.fromkeys(
        ("add", "query", "plan", "history", "rollback", "diff", "access", "lifecycle", "principal"),
        "runtime_commands",
    ),
    "trust": "trust_commands",
}


def register_commands(argv: list[str]) -> None:
    """Import the command module(s) ``argv`` needs (see :data:`COMMAND_MODULES`)."""
    wanted = COMMAND_MODULES.get(argv[0]) if argv else None
    for module in [wanted] if wanted else dict.fromkeys(COMMAND_MODULES.values()):
        importlib.import_module(f"memos_client.cli.{module}")


def _fail(message: str, exit_code: int) -> int:
    sys.stderr.write(f"error: {message}\n")
    return exit_code


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; every expected failure becomes one ``error:`` line and a non-zero exit code."""
    # Hashing, copies and downloads run on worker threads that release the GIL for each chunk
    # and need it back between chunks; with the default 5 ms switch interval a main thread busy
    # importing would stall them for most of that time.
    sys.setswitchinterval(0.0005)
    if argv is None:
        argv = sys.argv[1:]
    try:
        register_commands(argv)
        dispatch(argv)
    except MemosError as exc:
        return _fail(str(exc), exc.exit_code)
    except ValueError as exc:
        # mip.errors.MIPError is a ValueError: a bundle or name that is not valid MIP.
        from mip.errors import MIPError

        if isinstance(exc, MIPError):
            return _fail(str(exc), 3)
        raise
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 1)
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if not isinstance(exc.code, str) else _fail(exc.code, 1)
    return 0


def main() -> None:
    """Console-script entry point."""
    code = run()
    # The process ends here. Python's last garbage collection walks every object the imports
    # created (http.client, cryptography and the rest: tens of ms on our machines) only to free memory
    # the exit frees anyway; frozen objects are skipped. atexit handlers, weakref finalizers and
    # the flushing of stdout/stderr still run.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    main()
