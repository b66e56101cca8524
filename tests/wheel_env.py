"""Wheels of the zoo's distributions installed into a fresh virtual environment, for tests that use the zoo as a
pip user would: no checkout on the path, every zoo package from its wheel (package data included or missing).

Environment strategy. ``python -m venv --without-pip`` makes the environment (under a second); the zoo wheels are
installed into it with this interpreter's pip (``pip --python``, ``--no-index``: nothing is downloaded, and pip
checks that every declared dependency is present). The third-party dependencies (torch, DGL, RDKit, ...) are this
interpreter's own, shared read-only through a ``.pth`` line naming a *view*: a folder of symlinks to this
interpreter's site-packages that leaves out every zoo distribution, editable finder and ``.pth`` file. Installing
them for real takes about two minutes on the 2-core CI machine (``pip install torch==2.13.0`` and the rest from the
configured index); ``ZOO_WHEEL_TEST_FULL=1`` does exactly that instead (a venv with pip, torch 2.13.0 from the
local wheel, the zoo wheels with their dependencies from the index).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FULL = os.environ.get("ZOO_WHEEL_TEST_FULL", "").strip() not in {"", "0"}
TORCH = "torch==2.13.0"
# what a wheel build needs from a source tree; build outputs and the checkout's extras stay behind
_IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "weights", "runs",
                                 "tests", "bench", "docs", "plugins", ".pytest_cache", "*.pyc")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed (exit {done.returncode}):\n{done.stdout[-4000:]}")
    return done


def _setuptools_builds() -> bool:
    """Can this interpreter's setuptools build every project (PEP 639 licenses need 77), so that no build
    environment has to be fetched from the index?"""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        return Version(version("setuptools")) >= Version("77")
    except PackageNotFoundError:
        return False


def build_wheels(projects: list[Path], out: Path) -> list[Path]:
    """``pip wheel --no-deps`` of each project folder (copied first, so the checkout gets no build outputs)."""
    src = out.parent / (out.name + "-src")
    copies = []
    for project in projects:
        copy = src / project.resolve().name
        shutil.copytree(project, copy, ignore=_IGNORE, symlinks=True)
        copies.append(str(copy))
    isolation = [] if FULL or not _setuptools_builds() else ["--no-build-isolation"]
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(out), *copies])
    return sorted(out.glob("*.whl"))


def deps_view(folder: Path) -> Path:
    """A folder of symlinks to this interpreter's site-packages without any zoo distribution (see the module doc)."""
    folder.mkdir(parents=True, exist_ok=True)
    sites = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    for site in sites:
        for item in site.iterdir():
            name = item.name.lower()
            if name.startswith(("zoo_", "zoo-", "__editable__")) or name.endswith(".pth"):
                continue
            link = folder / item.name
            if not link.exists():
                link.symlink_to(item)
    return folder


def fresh_env(path: Path, wheels: list[Path], view: Path | None) -> Path:
    """A new venv at ``path`` holding ``wheels`` (and, unless FULL, the shared dependency ``view``); its bin/."""
    if FULL:
        venv.EnvBuilder(with_pip=True).create(path)
        pip = [str(path / "bin" / "python"), "-m", "pip"]
        _run([*pip, "install", "-q", TORCH])
        _run([*pip, "install", "-q", *map(str, wheels)])
        return path / "bin"
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "_zoo_test_deps.pth").write_text(f"{view}\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", *map(str, wheels)])
    return path / "bin"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a pip user: no PYTHONPATH, no zoo settings but a fresh ZOO_HOME, no proxies."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ZOO_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(ZOO_HOME=str(home), no_proxy="*", NO_PROXY="*", **extra)
    return env


def zoo(bin_dir: Path, args: list[str], env: dict[str, str], cwd: Path, check: bool = True,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the environment's ``zoo`` (stdout and stderr captured apart); fail with both unless it succeeds."""
    done = subprocess.run([str(bin_dir / "zoo"), *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"zoo {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n"
                             f"{done.stderr[-3000:]}")
    return done


def where_installed(bin_dir: Path, modules: list[str], env: dict[str, str], cwd: Path) -> dict[str, str]:
    """The file each module is imported from inside the environment."""
    code = "import importlib, json, sys; print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[1:]}))"
    import json

    done = subprocess.run([str(bin_dir / "python"), "-c", code, *modules], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
