"""Every ```python snippet of the docs runs: docs/python.md, docs/clients.md, README.md.

Snippets of the embedded engine run in order in one namespace (as a reader would type
them), in a fresh working directory. Snippets that call ``vectron.connect`` run against
the session's real ``vectron serve``, in order in one namespace, with ``URL``, ``KEY``
(an API key's token), ``CA`` and ``password`` bound; a snippet that spells out the default address
(``"https://127.0.0.1:7700"``, ``"vectron-data/tls/cert.pem"``) gets the test server's.

Regression (issue 22): the first snippet of docs/python.md used an undefined
``query_vector``; the int-id advice failed on padded rows."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from conftest import ADMIN_PASSWORD, REPO_ROOT

SNIPPET = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
DOCS = [REPO_ROOT / "docs" / "python.md", REPO_ROOT / "docs" / "clients.md", REPO_ROOT / "README.md"]


def snippets(path) -> list[str]:
    return SNIPPET.findall(path.read_text())


def is_server(code: str) -> bool:
    return "vectron.connect" in code


def run(code: str, name: str, ns: dict) -> None:
    exec(compile(code, name, "exec"), ns)  # noqa: S102 - the docs are the code under test


def test_every_doc_has_snippets():
    assert all(snippets(p) for p in DOCS)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_embedded_snippets_run_in_order(doc, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__main__"}
    ran = 0
    for i, code in enumerate(snippets(doc)):
        if not is_server(code):
            run(code, f"{doc.name} snippet {i}", ns)
            ran += 1
    if doc.name == "python.md":
        assert ran >= 4
        out = capsys.readouterr().out
        assert "(2, 3)" in out  # as_numpy pads to min(k, count), not to k
        np.testing.assert_array_equal(ns["int_ids"], [[10, 20], [20, 10]])
        assert os.path.isdir(tmp_path / "data")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_server_snippets_run_against_a_server(doc, tmp_path, monkeypatch, request):
    codes = [c for c in snippets(doc) if is_server(c)]
    if not codes:
        pytest.skip(f"skipped: {doc.name} has no server snippet")
    server = request.getfixturevalue("server")
    monkeypatch.chdir(tmp_path)
    client = server.client()
    for name in client.list_collections():
        client.drop_collection(name)
    client.close()
    # One namespace for the doc's server snippets, read in order like its embedded ones.
    ns = {"__name__": "__main__", "URL": server.url, "KEY": server.token, "CA": server.ca,
          "password": ADMIN_PASSWORD}
    for i, code in enumerate(codes):
        code = code.replace('"https://127.0.0.1:7700"', repr(server.url))
        code = code.replace('"vectron-data/tls/cert.pem"', repr(server.ca))
        run(code, f"{doc.name} server snippet {i}", ns)
