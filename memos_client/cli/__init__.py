"""The `memos` command line. Command modules keep heavy imports inside their functions."""
