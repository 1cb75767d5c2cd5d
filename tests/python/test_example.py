"""examples/python runs against the package under test."""

from __future__ import annotations

import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python" / "semantic_search.py"


def test_semantic_search_example(tmp_path):
    out = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path / "db"), "comet telescope"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "2000 articles" in out.stdout
    # The best hit for an astronomy query is an astronomy article.
    first_hit = out.stdout.split("query: 'comet telescope'")[1].splitlines()[1]
    assert "[astronomy," in first_hit
    # Reopening the same directory finds the data instead of re-importing.
    again = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path / "db"), "oven"],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert again.returncode == 0 and "2000 articles" in again.stdout


def test_from_chroma_example(tmp_path):
    example = EXAMPLE.parent / "from_chroma.py"
    out = subprocess.run([sys.executable, str(example), str(tmp_path / "db")], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("n1 0.00") and lines[1].startswith("n3 ")
    assert lines[2] == "[{'lang': 'fr'}]"
    assert lines[3] == "3 ['n1', 'n2']"
    assert lines[4] == "{'topic': 'demo', 'version': 2}"
    assert lines[5] == "2"
