"""The publish benchmark's anchor: a bare upload endpoint writing to the same storage.

``PUT /<name>`` streams the body to a temp file in DIR, fsyncs and renames it: what any upload to
that storage must do, with no hashing, no verification, no database. Same transport stack as the
registry (uvicorn + httptools, one worker).

    python bench/raw_upload_server.py DIR PORT
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from starlette.types import Receive, Scope, Send


def make_app(directory: Path) -> object:
    """An ASGI app storing every PUT body under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        handle, temp = tempfile.mkstemp(dir=directory, prefix=".raw-")
        with os.fdopen(handle, "wb") as sink:
            more = True
            while more:
                message = await receive()
                sink.write(message.get("body", b""))
                more = message.get("more_body", False)
            sink.flush()
            os.fsync(sink.fileno())
        Path(temp).replace(directory / Path(scope["path"]).name)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        make_app(Path(sys.argv[1])),  # type: ignore[arg-type]
        host="127.0.0.1",
        port=int(sys.argv[2]),
        access_log=False,
        log_level="warning",
    )
