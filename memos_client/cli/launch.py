"""The `memos` console script (and ``python -m memos_client``): set up the process, run the CLI.

Kept apart from :mod:`memos_client.cli.main` so that what is set here applies to the `memos`
process only, not to a program (or a test run) that imports the CLI.
"""

from __future__ import annotations

import gc


def main() -> None:
    """Run `memos` with the cyclic garbage collector's first threshold raised.

    By default a collection runs every 700 new container objects: importing the CLI framework,
    http.client, cryptography and the install modules triggered ~80 of them, 10-25 ms of a cold `memos
    install` (docs/adr/0003). A command creates little cyclic garbage, so one run per 100,000
    allocations loses nothing; reference counting still frees everything else at once.
    """
    gc.set_threshold(100_000, 50, 50)
    from memos_client.cli.main import main as run_cli

    run_cli()
