"""Entry point of `memos`: registers the command modules and maps errors to one line + exit code."""

from __future__ import annotations

import gc
import importlib
import io
import sys

from memos_client.cli.app import dispatch
from memos_client.errors import MemosError, UsageError
from mip.errors import MIPError

#: The module (under ``memos_client.cli``) that registers each top-level command or group.
#: ``memos COMMAND ...`` imports only that module; ``memos``, ``memos --help`` and an unknown
#: command import them all (in this order), so help lists every command and suggestions work.
COMMAND_MODULES = {
    **dict.fromkeys(("keygen", "init", "pack", "verify", "inspect"), "bundle_commands"),
    "cache": "cache_commands",
    **dict.fromkeys(("install", "uninstall", "check"), "install_commands"),
    **dict.fromkeys(("list", "show"), "list_commands"),
    **dict.fromkeys(("lock", "sync"), "lock_commands"),
    **dict.fromkeys(("activate", "consolidate", "generate"), "model_commands"),
    **dict.fromkeys(
        ("login", "logout", "whoami", "publish", "yank", "search", "token"), "registry_commands"
    ),
    **dict.fromkeys(
        ("add", "query", "plan", "history", "rollback", "diff", "access", "principal"),
        "runtime_commands",
    ),
    "lifecycle": "lifecycle_commands",
    "trust": "trust_commands",
    **dict.fromkeys(("download", "tree"), "download_commands"),
    "key": "key_commands",
    **dict.fromkeys(("audit", "purge"), "governance_commands"),
    **dict.fromkeys(("get", "update", "delete"), "memory_commands"),
    "log": "log_commands",
    **dict.fromkeys(("export", "import"), "interop_commands"),
    **dict.fromkeys(("mcp", "serve"), "serve_commands"),
}


def register_commands(argv: list[str]) -> None:
    """Import the command module(s) ``argv`` needs (see :data:`COMMAND_MODULES`)."""
    from memos_client.cli.context import split_global_options

    prefix, argv = split_global_options(argv)
    if "--version" in prefix:
        return  # answered by the top-level parser alone
    wanted = COMMAND_MODULES.get(argv[0]) if argv else None
    for module in [wanted] if wanted else dict.fromkeys(COMMAND_MODULES.values()):
        importlib.import_module(f"memos_client.cli.{module}")


#: What to do about a client error, in this CLI's commands, by the error's stable code; filled
#: from the error's ``details`` (the library's messages name no command).
HINTS = {
    "unknown_memory": "find ids with `memos query`",
    # A memory that exists but was deleted or expired (details carry its state).
    "unknown_memory/gone": "see `memos history {memory}`",
    "unknown_cube": "see `memos list` (installed) or `memos query` (every cube you may read)",
    "unknown_principal": "add it with `memos principal add {principal}` as 'local'",
    "access_denied": "grant it with `memos access {cube} --{action} {principal}`",
}


def describe(exc: MemosError) -> str:
    """The error's message and, when the CLI knows one, what to do about it."""
    situation = exc.details.get("situation")
    hint = HINTS.get(f"{exc.code}/{situation}") or HINTS.get(exc.code)
    if hint is None:
        return str(exc)
    try:
        return f"{exc}; {hint.format(**exc.details)}"
    except KeyError:  # the hint needs a detail this error does not carry
        return str(exc)


def _fail(error: BaseException, message: str, argv: list[str]) -> int:
    """Report ``error`` as one ``error:`` line (:func:`cli_support.args.write_error`), or under
    ``--json`` as one JSON object on stderr; return its exit code (cli.exit_codes)."""
    from memos_client.cli.context import current, json_requested
    from memos_client.cli.exit_codes import error_code_for, exit_code_for

    exit_code, code = exit_code_for(error), error_code_for(error)
    if json_requested(argv):
        import json

        document = {"error": {"code": code, "message": message, "exit_code": int(exit_code)}}
        # ASCII with \u escapes: any stderr takes it, and a message quoting an undecodable byte of
        # the command line (a lone surrogate) stays valid JSON.
        sys.stderr.write(json.dumps(document) + "\n")
        return exit_code
    from cli_support.args import write_error

    write_error(message)
    if current().verbose:
        sys.stderr.write(f"  (code {code}, exit {int(exit_code)}: {exit_code.name.lower()})\n")
    return exit_code


#: What to do about the file-system errors a command may meet, by errno name.
_OS_ERROR_ADVICE = {
    "ENOENT": "check the path",
    "EISDIR": "give a file, not a directory",
    "ENOTDIR": "a part of the path is a file, not a directory",
    "EACCES": "check its permissions",
    "EPERM": "check its permissions",
    "EROFS": "the file system is read-only: choose another location",
    "ENOSPC": "free some disk space and run the command again",
    "EDQUOT": "free some disk space and run the command again",
}


def _describe_os_error(exc: OSError) -> str:
    """``what: which file: what to do`` for an OSError no command turned into its own error."""
    import errno

    message = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    advice = _OS_ERROR_ADVICE.get(errno.errorcode.get(exc.errno or 0, ""))
    return f"{message}: {advice}" if advice else message


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail on the pipe."""
    import os
    from contextlib import suppress

    # ValueError: io.UnsupportedOperation, a stdout that is no file (a test's capture).
    with suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; every expected failure becomes one ``error:`` line and a non-zero exit code."""
    # Hashing, copies and downloads run on worker threads that release the GIL for each chunk
    # and need it back between chunks; with the default 5 ms switch interval a main thread busy
    # importing would stall them for most of that time.
    sys.setswitchinterval(0.0005)
    if argv is None:
        argv = sys.argv[1:]
    from memos_client.cli import context

    context.reset()
    try:
        register_commands(argv)
        dispatch(argv)
    except SystemExit as exc:  # --help, --version
        if isinstance(exc.code, str):
            return _fail(MemosError(exc.code), exc.code, argv)
        return int(exc.code or 0)
    except BrokenPipeError:
        # Whoever read stdout went away (`memos history --json | head`): stop quietly, as
        # memos-registry does. Network errors never get here bare (the clients wrap them).
        _silence_stdout()
        return 1
    except UnicodeEncodeError as exc:
        # The last line of defence (app.text refuses such text as it is parsed): an undecodable
        # byte of the command line where only UTF-8 goes, or text that stdout's encoding cannot
        # take (PYTHONIOENCODING=ascii and a memory in Greek).
        shown = exc.object[exc.start : exc.end]
        if exc.reason == "surrogates not allowed":
            message = f"{shown!r} is not valid UTF-8 text (an undecodable byte): use UTF-8"
            return _fail(UsageError(message), message, argv)
        return _fail(
            exc, f"cannot write {shown!r} in {exc.encoding}: set PYTHONIOENCODING=utf-8", argv
        )
    except MemosError as exc:
        return _fail(exc, describe(exc), argv)
    except MIPError as exc:
        # mip.errors.MIPError is a ValueError: a bundle or name that is not valid MIP.
        return _fail(exc, str(exc), argv)
    except KeyboardInterrupt as exc:
        return _fail(exc, "interrupted", argv)
    except OSError as exc:
        return _fail(exc, _describe_os_error(exc), argv)
    return 0


def main() -> None:
    """Console-script entry point."""
    # A file name in argv that is not UTF-8 arrives as lone surrogates (PEP 383); printed back
    # (`memos init DIR`: "created DIR") they must become the same bytes again, not a
    # UnicodeEncodeError. Python already does so in UTF-8 mode and the C locale; not otherwise.
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="surrogateescape")
    code = run()
    # The process ends here. Python's last garbage collection walks every object the imports
    # created (http.client, cryptography and the rest: tens of ms on our machines) only to free memory
    # the exit frees anyway; frozen objects are skipped. atexit handlers, weakref finalizers and
    # the flushing of stdout/stderr still run.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    main()
