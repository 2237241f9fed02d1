"""``python -m memos_client`` runs the `memos` CLI."""

from memos_client.cli.launch import main

main()
