"""Shared fixtures for the Python-side tests: where the npucc binary and samples are."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def npucc_path():
    path = os.environ.get("NPUCC") or str(ROOT / ".build" / "release" / "npucc")
    if not os.path.exists(path):
        pytest.fail(f"npucc binary not found at {path}: run `make build` or set NPUCC")
    return path


@pytest.fixture(scope="session")
def npucc():
    return npucc_path()


def run_npucc(*args, timeout=120, env=None):
    return subprocess.run([npucc_path(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
