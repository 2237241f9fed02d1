"""What the benchmark scripts share: their common arguments and the environment of the
processes they start. Nothing here measures anything.

Imported as ``bench_setup`` (a script's own folder is first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_parser(description: str | None, workdir: str, runs: int = 5) -> argparse.ArgumentParser:
    """A parser with the arguments every server benchmark takes: ``--runs`` (rounds measured,
    after a warm-up) and ``--workdir`` (emptied and filled by the run; ``workdir`` by default)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--workdir", type=Path, default=Path(workdir))
    return parser


def child_env(**extra: str) -> dict[str, str]:
    """This environment without the user's ``MEMOS_*``/``MEMSTORE_*`` settings, running this
    checkout (``PYTHONPATH``), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMOS_", "MEMSTORE_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def anchors_on_path() -> None:
    """Put the anchors (pypi-server, uv: the ``bench`` extra), installed beside this interpreter,
    on ``PATH`` for this process and the ones it starts."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def admin_token(data_dir: Path, env: dict[str, str], namespace: str) -> str:
    """A token for ``namespace`` from the registry keeping its data in ``data_dir``, made with
    ``registry_server admin create-token`` (run in ``env``)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry_server",
            "admin",
            "create-token",
            "--namespace",
            namespace,
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()
