"""The package under test is the installed wheel, and the wheel holds only the package."""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import sys

import pytest

import vectron

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
INSTALLED = os.environ.get("VECTRON_EXPECT_INSTALLED") == "1"


@pytest.mark.skipif(not INSTALLED, reason="not run from scripts/test-python.sh (wheel not installed)")
def test_imported_from_the_installed_wheel_not_the_source_tree():
    path = pathlib.Path(vectron.__file__).resolve()
    # The venv may live inside the checkout (build-python-test/venv); what matters is
    # that the package comes from the venv's site-packages, not from bindings/python.
    assert REPO_ROOT / "bindings" not in path.parents, path
    assert pathlib.Path(sys.prefix).resolve() in path.parents, (path, sys.prefix)
    assert "site-packages" in path.parts, path


@pytest.mark.skipif(not INSTALLED, reason="not run from scripts/test-python.sh (wheel not installed)")
def test_wheel_contents_are_the_package_only():
    dist = importlib.metadata.distribution("vectron")
    assert dist.version == vectron.__version__
    files = [str(f) for f in dist.files]
    assert any(f.startswith("vectron/_vectron") and f.endswith(".so") for f in files), files
    for f in files:
        # No CLI, no shared library, no headers: the engine is linked into _vectron.
        assert f.startswith(("vectron/", "vectron-")), f
        assert not (f.endswith(".so") and "_vectron" not in f), f
    for name in ("__init__.pyi", "_vectron.pyi", "errors.pyi", "py.typed", "remote.py", "remote.pyi", "_http.py",
                 "_common.py"):
        assert f"vectron/{name}" in files, name


def test_extension_needs_no_libvectron_shared_library():
    so = pathlib.Path(vectron._vectron.__file__)
    text = so.read_bytes()
    assert b"libvectron.so" not in text
