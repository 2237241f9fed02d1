"""The runtime as a service: ``memos mcp`` (MCP over stdio) and ``memos serve`` (MCP streamable
HTTP at ``/mcp`` + REST under ``/v1``), over one warm runtime; bearer tokens map to principals."""
