"""The committed dependency locks (requirements/) and the checks scripts/lock and bootstrap run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "scripts" / "dependency_locks.py"
LOCK = ROOT / "requirements" / "lock.txt"
LOWEST = ROOT / "requirements" / "lowest.txt"
#: The libraries whose lower bounds scripts/test-lowest installs.
LOWEST_OF = ("transformers", "peft", "safetensors", "tokenizers")
HASH = "--hash=sha256:" + "0" * 64


def _checker(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, str(CHECKER), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text("utf-8").splitlines():
        if line[:1].isalnum():
            name, _, version = line.split()[0].partition("==")
            pins[name] = version
    return pins


def _pyproject(tmp_path: Path, ml: str = '"torch==2.13.0", "transformers>=4.56"') -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [project]
            name = "memstore"
            version = "0.1.0"
            dependencies = ["numpy>=1.26"]
            [project.optional-dependencies]
            ml = [{ml}]
            all = ["memstore[ml]"]
            """
        ),
        encoding="utf-8",
    )
    return path


def _lock(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "lock.txt"
    lines = ["# a lock", "--find-links /opt/wheels", ""]
    for entry in entries:
        lines += [f"{entry} \\", f"    {HASH}", "    # via memstore"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("lock", [LOCK, LOWEST], ids=["lock", "lowest"])
def test_the_committed_locks_pass_the_check(lock: Path) -> None:
    result = _checker("check-lock", str(lock))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("lock", [LOCK, LOWEST], ids=["lock", "lowest"])
def test_the_committed_locks_hold_torch_s_cpu_build_and_nothing_of_cuda(lock: Path) -> None:
    pins = _pins(lock)
    assert pins["torch"].endswith("+cpu")
    cuda = [name for name in pins if name.startswith(("nvidia-", "cuda-")) or name == "triton"]
    assert cuda == []


def test_lowest_pins_the_floors_pyproject_states() -> None:
    floors = _checker("floors", *LOWEST_OF)
    assert floors.returncode == 0, floors.stderr
    pins = _pins(LOWEST)
    from packaging.version import Version

    for line in floors.stdout.split():
        name, _, floor = line.partition("==")
        assert Version(pins[name]) == Version(floor), name
    assert _pins(LOCK)["torch"] == pins["torch"]  # torch as pinned at both ends


def test_uv_txt_pins_the_uv_the_lock_pins() -> None:
    assert _pins(ROOT / "requirements" / "uv.txt") == {"uv": _pins(LOCK)["uv"]}


def test_a_lock_with_cuda_packages_is_refused(tmp_path: Path) -> None:
    lock = _lock(
        tmp_path,
        "numpy==2.3.0",
        "torch==2.13.0",
        "transformers==5.25.0",
        "nvidia-cublas==13.1.0.3",
        "triton==3.6.0",
    )
    result = _checker("check-lock", str(lock), "--pyproject", str(_pyproject(tmp_path)))
    assert result.returncode == 1
    assert result.stdout == ""
    errors = result.stderr.splitlines()
    assert errors == [
        f"error: {lock}: nvidia-cublas==13.1.0.3 is a CUDA package: the lock must hold the CPU "
        "build of torch (the +cpu wheel from --find-links), never PyPI's CUDA build",
        f"error: {lock}: triton==3.6.0 is a CUDA package: the lock must hold the CPU build of "
        "torch (the +cpu wheel from --find-links), never PyPI's CUDA build",
        f"error: {lock}: torch==2.13.0 is not a +cpu build: the +cpu wheel was not found "
        "(is /opt/wheels, or another --find-links with it, passed to uv?)",
    ]


def test_a_lock_that_misses_or_breaks_a_range_is_refused(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path)
    lock = _lock(tmp_path, "numpy==1.25.0", "torch==2.13.0+cpu")
    result = _checker("check-lock", str(lock), "--pyproject", str(pyproject))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {lock}: pyproject.toml asks for numpy>=1.26 but the lock pins numpy==1.25.0",
        f"error: {lock}: pyproject.toml asks for transformers>=4.56 but the lock has no "
        "transformers",
    ]


def test_unpinned_and_unhashed_entries_are_refused(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path, ml='"torch==2.13.0"')
    unhashed = tmp_path / "unhashed.txt"
    unhashed.write_text("numpy==2.3.0\ntorch==2.13.0+cpu\n", encoding="utf-8")
    result = _checker("check-lock", str(unhashed), "--pyproject", str(pyproject))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {unhashed}: numpy==2.3.0 has no --hash (compile with --generate-hashes)",
        f"error: {unhashed}: torch==2.13.0+cpu has no --hash (compile with --generate-hashes)",
    ]
    ranged = tmp_path / "ranged.txt"
    ranged.write_text("numpy>=2\n", encoding="utf-8")
    result = _checker("check-lock", str(ranged), "--pyproject", str(pyproject))
    assert result.returncode == 1
    assert (
        result.stderr == f"error: {ranged}:1: 'numpy>=2' is not pinned to one version (name==X)\n"
    )


def test_floors_are_the_lower_bounds(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path)
    result = _checker("floors", "transformers", "torch", "--pyproject", str(pyproject))
    assert (result.returncode, result.stdout) == (0, "transformers==4.56\ntorch==2.13.0\n")
    missing = _checker("floors", "peft", "--pyproject", str(pyproject))
    assert missing.returncode == 1
    assert missing.stderr == "error: pyproject.toml gives peft no lower bound (>=, ~= or ==)\n"


@pytest.fixture
def bare_venv(tmp_path: Path) -> Path:
    """A virtual environment with nothing installed (not even pip) whose Python can import
    ``packaging``: a ``.pth`` file puts the test environment's copy on its path, outside the
    site-packages the checker compares with the lock."""
    import packaging

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "packaging").symlink_to(Path(packaging.__file__).parent)
    (_site_packages(venv) / "shim.pth").write_text(f"{shim}\n", encoding="utf-8")
    return venv


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def _fake_install(venv: Path, name: str, version: str) -> None:
    """Write the dist-info an installer leaves (what importlib.metadata reads)."""
    info = _site_packages(venv) / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )


def test_check_venv_wants_exactly_the_lock(bare_venv: Path, tmp_path: Path) -> None:
    python = str(bare_venv / "bin" / "python")
    lock = _lock(tmp_path, "msgspec==0.21.0", "numpy==2.3.0", "rich==14.0.0")
    _fake_install(bare_venv, "numpy", "2.3.0")
    _fake_install(bare_venv, "rich", "13.9.0")
    _fake_install(bare_venv, "accelerate", "1.16.0")
    result = _checker("check-venv", str(lock), python=python)
    assert result.returncode == 1
    where = f"{bare_venv} against {lock}"
    assert result.stderr.splitlines() == [
        f"error: {where}: msgspec==0.21.0 is locked but not installed",
        f"error: {where}: rich 13.9.0 is installed, the lock pins 14.0.0",
        f"error: {where}: accelerate 1.16.0 is installed but not in the lock",
    ]
    _fake_install(bare_venv, "memstore", "0.1.0")  # the project itself is the one extra allowed
    for stale in ("accelerate-1.16.0", "rich-13.9.0"):
        shutil.rmtree(_site_packages(bare_venv) / f"{stale}.dist-info")
    _fake_install(bare_venv, "rich", "14.0.0")
    _fake_install(bare_venv, "msgspec", "0.21.0")
    result = _checker("check-venv", str(lock), python=python)
    assert (result.returncode, result.stderr) == (0, "")
