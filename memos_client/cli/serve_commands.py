"""`memos mcp` (MCP over stdio, for MCP hosts) and `memos serve` (MCP over HTTP + REST)."""

from __future__ import annotations

from memos_client.cli.app import arg, command, flag
from memos_client.cli.options import AS_BRIEF

ALLOW_INSTALL = flag(
    "--allow-install", help="Let callers install cubes from the registry (the install_cube tool)."
)
TICK = arg(
    "--tick-interval",
    type=float,
    default=300.0,
    metavar="SECONDS",
    help="Run the lifecycle tick this often (0: never; default 300).",
)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@command()
@AS_BRIEF
@ALLOW_INSTALL
@TICK
def mcp(as_: str | None, allow_install: bool, tick_interval: float) -> None:
    """Serve the memory tools over MCP on stdin/stdout (for MCP hosts to start).

    memos mcp                       as 'local', the store's owner
    memos mcp --as alice            every call acts as alice (her cubes, her access)

    Tools: search_memories, add_memory, add_messages, get_memory, update_memory,
    delete_memory, plan_context, list_cubes, cube_history, rollback_cube, install_cube
    (only with --allow-install). Resources: memos://cubes/NAMESPACE/NAME.
    See docs/agents.md for host configuration.
    """
    import logging
    import sys

    from memos_client.errors import UsageError
    from memos_client.serve.host import Host
    from memos_client.serve.mcp_server import build_mcp_server

    if tick_interval < 0:
        raise UsageError("--tick-interval must be 0 (never) or a number of seconds")
    if not all(hasattr(stream, "buffer") for stream in (sys.stdin, sys.stdout)):
        raise UsageError(
            "memos mcp speaks MCP on stdin/stdout, which are not files here: let an MCP host "
            "start it (see docs/agents.md), or use `memos serve` for HTTP"
        )
    logging.basicConfig(level=logging.WARNING)  # stderr: stdout carries the protocol
    host = Host(principal=as_, allow_install=allow_install, tick_interval_s=tick_interval)
    try:
        host.warm_up()
        host.start()
        principal = host.runtime.principal
        build_mcp_server(host.tools, lambda ctx: principal, inline=True).run("stdio")
    finally:
        host.close()


@command()
@arg("action", nargs="?", choices=["token"], help="`token`: print (or --rotate) a bearer token.")
@arg("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1, loopback).")
@arg("--port", type=int, default=8765, help="Port (default 8765).")
@AS_BRIEF
@ALLOW_INSTALL
@TICK
@arg("--principal", help="`memos serve token`: the principal whose token to print.")
@flag("--rotate", help="`memos serve token`: replace the token.")
@flag("--no-token", help="Accept calls without a token, as the server's principal (loopback only).")
def serve(
    action: str | None,
    host: str,
    port: int,
    as_: str | None,
    allow_install: bool,
    tick_interval: float,
    principal: str | None,
    rotate: bool,
    no_token: bool,
) -> None:
    """Serve the runtime over HTTP: MCP (streamable HTTP) at /mcp, REST under /v1.

    memos serve                          http://127.0.0.1:8765, bearer token required
    memos serve token                    print the token of 'local' (created if missing)
    memos serve token --principal alice  alice's token: calls with it act as alice
    memos serve token --rotate           replace the token (the old one stops working)

    Tokens live in $MEMOS_HOME/serve/tokens.json (mode 0600). Binding to an address other
    than loopback needs tokens (--no-token is refused there). See docs/agents.md.
    """
    from memos_client.config import memos_home
    from memos_client.errors import UsageError
    from memos_client.serve.tokens import TokenBook

    home = memos_home()
    if action == "token":
        from memos_client.runtime import MemOS

        name = principal or as_ or "local"
        with MemOS(home, principal=name, warm=False):
            pass  # an unknown principal is refused here, with the command to add one
        print(TokenBook(home).token_for(name, rotate=rotate))
        return
    if principal is not None or rotate:
        raise UsageError("--principal and --rotate go with `memos serve token`")
    if not 0 < port < 65536:
        raise UsageError(f"--port must be from 1 to 65535, got {port}")
    if tick_interval < 0:
        raise UsageError("--tick-interval must be 0 (never) or a number of seconds")
    if no_token and not _is_loopback(host):
        raise UsageError(
            f"refusing to serve {host} without tokens: anyone who can reach it could read and "
            "change your memory; drop --no-token (callers then need `memos serve token`)"
        )
    _serve(home, host, port, as_, allow_install, tick_interval, no_token)


def _serve(
    home: object,
    host: str,
    port: int,
    as_: str | None,
    allow_install: bool,
    tick_interval: float,
    no_token: bool,
) -> None:
    import socket
    import sys
    from pathlib import Path

    import uvicorn

    from memos_client.errors import UsageError
    from memos_client.serve.app import create_app
    from memos_client.serve.host import Host
    from memos_client.serve.tokens import TokenBook

    assert isinstance(home, Path)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port "
            "or --host"
        ) from exc
    runtime = Host(home, principal=as_, allow_install=allow_install, tick_interval_s=tick_interval)
    tokens = None
    if not no_token:
        tokens = TokenBook(home)
        tokens.token_for(runtime.runtime.principal)  # created on first start
    runtime.warm_up()
    app = create_app(
        runtime.tools, tokens, bind_host=host, on_start=runtime.start, on_stop=runtime.close
    )
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(
        f"serving {home} on {where}: MCP at {where}/mcp, REST at {where}/v1"
        + ("" if tokens is None else f" (token: `memos serve token`, {tokens.path})"),
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[listener])
