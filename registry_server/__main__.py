"""``python -m registry_server`` runs `memos-registry`."""

from registry_server.cli import run

run()
