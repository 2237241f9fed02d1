"""Run `memos` in benchmarks as an installed copy runs, not as this development checkout does.

Two things make a checkout slower to start than an installed copy, and neither touches the anchors
(cp, openssl, curl, uv):

- Bytecode. This checkout may run with PYTHONDONTWRITEBYTECODE=1 (the sandbox sets it): every
  `memos` process would then compile the project's modules from source (25-70 ms per command),
  which an installed copy never does (pip compiles at install time). :func:`compile_project`
  writes the ``.pyc`` files.
- The console script. Users type `memos`, a script pip writes at install time; ``python -m
  memos_client`` would add runpy's imports (~2 ms). :func:`memos_script` writes the script pip
  would.
- The editable install's import hook. ``pip install -e .`` leaves a ``.pth`` file that imports
  setuptools' editable finder into every Python process of the virtual environment: `python -c
  pass` takes ~19.5 ms there against ~9.7 ms without it. :func:`installed_python` returns the
  interpreter of a small virtual environment without that file: a path line in its
  ``site-packages`` reaches this environment's packages (the dependencies, pip), and the project
  comes from ``PYTHONPATH``, which the scripts set to the checkout.
"""

from __future__ import annotations

import compileall
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def compile_project() -> None:
    """Write the ``.pyc`` files of ``mip``, ``memos_client`` and ``registry_server``."""
    for package in ("mip", "memos_client", "registry_server"):
        compileall.compile_dir(str(REPO / package), quiet=1)


def installed_python(directory: Path) -> str:
    """An interpreter that imports the dependencies of this one, without the editable finder.

    Created under ``directory`` (once; about a second). Run the project with
    ``PYTHONPATH=<checkout>``.
    """
    python = directory / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=False, symlinks=True).create(directory)
        target = Path(
            sysconfig.get_path("purelib", vars={"base": str(directory), "platbase": str(directory)})
        )
        here = sysconfig.get_path("purelib")
        (target / "memstore-bench-dependencies.pth").write_text(here + "\n", "utf-8")
    return str(python)


#: What pip (26) writes for a ``console_scripts`` entry point.
_CONSOLE_SCRIPT = """#!{python}
import sys
from memos_client.cli.launch import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""


def memos_script(python: str) -> str:
    """The `memos` console script of :func:`installed_python`'s environment, as pip writes it."""
    script = Path(python).parent / "memos"
    script.write_text(_CONSOLE_SCRIPT.format(python=python), "utf-8")
    script.chmod(0o755)
    return str(script)
