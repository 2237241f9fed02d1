"""Entry point of `memos`: registers the command modules and maps errors to one line + exit code."""

from __future__ import annotations

import gc
import sys

from memos_client.cli import (
    bundle_commands,  # noqa: F401  (registers commands)
    cache_commands,  # noqa: F401  (registers commands)
    install_commands,  # noqa: F401  (registers commands)
    model_commands,  # noqa: F401  (registers commands)
    registry_commands,  # noqa: F401  (registers commands)
    runtime_commands,  # noqa: F401  (registers commands)
    trust_commands,  # noqa: F401  (registers commands)
)
from memos_client.cli.app import app
from memos_client.errors import MemosError


def _fail(message: str, exit_code: int) -> int:
    sys.stderr.write(f"error: {message}\n")
    return exit_code


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; every expected failure becomes one ``error:`` line and a non-zero exit code."""
    try:
        app(args=argv, standalone_mode=False)
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
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else _fail(exc.code, 1)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return _fail("aborted", 1)
        raise
    return 0


def main() -> None:
    """Console-script entry point."""
    code = run()
    # The process ends here. Python's last garbage collection walks every object the imports
    # created (pydantic, typer, cryptography: 20-60 ms on our machines) only to free memory the
    # exit frees anyway; frozen objects are skipped. atexit handlers, weakref finalizers and the
    # flushing of stdout/stderr still run.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    main()
