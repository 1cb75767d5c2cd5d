"""Shared fixtures for the vectron Python tests.

These tests run against the *installed* package (scripts/test-python.sh installs the
wheel into a fresh venv and runs pytest from outside the source tree); test_packaging.py
checks that. Every test gets a fresh temporary directory; random data uses fixed seeds.

Modules marked ``both_backends`` run each test that uses the ``db`` (or ``col``) fixture
twice: against ``vectron.open(path)`` and against ``vectron.connect(url)`` to a real
``vectron serve`` (TLS with its generated certificate as ``ca=``, auth on, loopback),
started once per session from $VECTRON_BIN. The test functions are the same: only the
line that opens the database differs. Tests of the embedded engine alone are marked
``embedded_only``. Without $VECTRON_BIN the server half is skipped (it fails instead when
$VECTRON_REQUIRE_SERVER=1, as scripts/test.sh sets).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import numpy as np
import pytest

import vectron

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"


ADMIN_PASSWORD = "correct horse battery staple"


def pytest_configure(config):
    config.addinivalue_line("markers", "both_backends: run db/col tests against vectron.open and vectron.connect")
    config.addinivalue_line("markers", "embedded_only(reason): a test of the embedded engine alone")


def pytest_generate_tests(metafunc):
    d = metafunc.definition
    if ("backend" in metafunc.fixturenames and d.get_closest_marker("both_backends")
            and not d.get_closest_marker("embedded_only")):
        metafunc.parametrize("backend", ["embedded", "server"], indirect=True)


@pytest.fixture
def backend(request) -> str:
    return getattr(request, "param", "embedded")


class Serve:
    """A `vectron serve` process on 127.0.0.1 (free ports) with its secure defaults: TLS
    with a generated self-signed certificate (``ca``) and auth on (admin password
    ADMIN_PASSWORD). ``url`` is read from its "http listening on" line."""

    def __init__(self, directory: pathlib.Path, *extra: str) -> None:
        binary = os.environ.get("VECTRON_BIN")
        if not binary:
            if os.environ.get("VECTRON_REQUIRE_SERVER") == "1":
                pytest.fail("VECTRON_BIN is not set: scripts/test.sh passes the vectron binary")
            pytest.skip("skipped: no vectron binary (set VECTRON_BIN=build/tools/vectron)")
        self.db = directory / "server-db"
        self.ca = str(self.db / "tls" / "cert.pem")
        self.log = open(directory / "server.log", "w")
        env = dict(os.environ, VECTRON_ADMIN_PASSWORD=ADMIN_PASSWORD)
        self.proc = subprocess.Popen(
            [binary, "serve", "--db", str(self.db), "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0",
             "--durability", "nometasync", "--no-request-log", *extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        self.url = None
        lines = []
        for line in self.proc.stdout:  # Ends when the process exits: no wait without end.
            lines.append(line)
            m = re.search(r"http listening on (https://[\d.]+:\d+)", line)
            if m:
                self.url = m.group(1)
            if "ready" in line:
                break
        if not self.url:
            self.stop()
            pytest.fail(f"vectron serve did not start: {lines} {open(directory / 'server.log').read()}")
        admin = vectron.connect(self.url, ca=self.ca)
        admin.login("admin", ADMIN_PASSWORD)
        #: An SDK token with every scope, for the tests' clients.
        self.token = admin.create_key("tests", ["read", "write", "admin"]).token
        #: A login token of the admin, for key management.
        self.login_token = admin.token
        admin.close()

    def client(self, **kwargs) -> "vectron.Client":
        kwargs.setdefault("token", self.token)
        return vectron.connect(self.url, ca=self.ca, **kwargs)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.stdout.read()
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One `vectron serve` for the session (TLS, auth on); see Serve."""
    s = Serve(tmp_path_factory.mktemp("serve"))
    yield s
    assert s.stop() == 0


@pytest.fixture
def db_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "db"


@pytest.fixture
def db(request, backend: str, db_path: pathlib.Path):
    """An empty database: embedded in a fresh directory, or the session's server with
    every collection dropped."""
    if backend == "embedded":
        d = vectron.open(db_path, durability="nometasync")
        yield d
        d.close()
        return
    client = request.getfixturevalue("server").client()
    for name in client.list_collections():
        client.drop_collection(name)
    yield client
    client.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def random_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return rng.standard_normal((n, dim), dtype=np.float32)


POINTS_DIM = 8
POINTS_N = 100


def points_data():
    """The fixed contents of the `col` fixture: ids, vectors, metadata."""
    vecs = random_vectors(np.random.default_rng(7), POINTS_N, POINTS_DIM)
    ids = [f"p{i:03d}" for i in range(POINTS_N)]
    metas = [{"i": i, "even": i % 2 == 0, "tag": f"t{i % 3}"} for i in range(POINTS_N)]
    return ids, vecs, metas


@pytest.fixture
def col(db):
    """An l2 collection "points" holding points_data(): ids "p000".."p099", vector i =
    row i of a seeded matrix, metadata {"i": i, "even": i % 2 == 0, "tag": "t<i % 3>"}."""
    c = db.create_collection("points", dim=POINTS_DIM, metric="l2")
    ids, vecs, metas = points_data()
    c.upsert(ids, vecs, metadata=metas)
    return c
