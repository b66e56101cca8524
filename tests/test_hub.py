"""zoo_core.hub: verified, cached, concurrent-safe downloads, against a local HTTP server (no real network)."""

from __future__ import annotations

import collections
import fcntl
import hashlib
import multiprocessing
import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from zoo_core import hub
from zoo_core.errors import DownloadError
from zoo_core.paths import zoo_home

DATA = bytes(range(256)) * 800  # 200 KiB
SHA = hashlib.sha256(DATA).hexdigest()
BAD = hashlib.sha256(b"something else").hexdigest()


class _Server:
    """A local HTTP server; ``files[name] = (body, mode)`` with mode 'ok', 'cut' (half the body) or 'slow'."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}
        self.gets: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                with server._lock:
                    server.gets[name] += 1
                if name not in server.files:
                    self.send_error(404)
                    return
                body, mode = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "cut":  # promise N bytes, send N/2, hang up
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif mode == "slow":  # ~0.4 s in 8 pieces, so a second process overlaps the first
                    step = len(body) // 8 + 1
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i:i + step])
                        self.wfile.flush()
                        time.sleep(0.05)
                else:
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _assert_no_partials(folder):
    names = _listing(folder)
    assert not [n for n in names if ".part-" in n], names


def test_good_hash_downloads_caches_and_second_call_is_offline(server):
    server.files["a.bin"] = (DATA, "ok")
    p = hub.resolve(server.url("a.bin"), SHA, "a.bin", progress=False)
    assert p == zoo_home() / "weights" / "a.bin" == hub.cached_path("weights", "a.bin")
    assert p.read_bytes() == DATA and hub.sha256_file(p) == SHA
    assert server.gets["a.bin"] == 1
    assert hub.resolve(server.url("a.bin"), SHA, "a.bin") == p
    assert hub.download(server.url("a.bin"), p, "sha256:" + SHA.upper()) == p  # pooch-style prefix accepted
    assert server.gets["a.bin"] == 1
    _assert_no_partials(p.parent)


def test_bad_hash_is_refused_and_nothing_is_cached(server):
    server.files["a.bin"] = (DATA, "ok")
    with pytest.raises(DownloadError, match="sha256") as err:
        hub.resolve(server.url("a.bin"), BAD, "a.bin", progress=False)
    msg = str(err.value)
    assert server.url("a.bin") in msg and BAD in msg and SHA in msg
    folder = zoo_home() / "weights"
    assert "a.bin" not in _listing(folder)
    _assert_no_partials(folder)


def test_connection_cut_mid_file_leaves_no_partial_file(server):
    server.files["cut.bin"] = (DATA, "cut")
    with pytest.raises(DownloadError, match="incomplete"):
        hub.resolve(server.url("cut.bin"), SHA, "cut.bin", progress=False)
    folder = zoo_home() / "weights"
    assert "cut.bin" not in _listing(folder)
    _assert_no_partials(folder)


def test_http_error_is_a_download_error(server):
    with pytest.raises(DownloadError, match="404"):
        hub.resolve(server.url("missing.bin"), SHA, "missing.bin", progress=False)
    _assert_no_partials(zoo_home() / "weights")


def test_corrupt_cache_is_replaced_and_stale_parts_removed(server):
    server.files["a.bin"] = (DATA, "ok")
    dest = hub.cached_path("weights", "a.bin")
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"corrupt")
    (dest.parent / "a.bin.part-stale").write_bytes(b"left by a killed process")
    assert hub.resolve(server.url("a.bin"), SHA, "a.bin", progress=False) == dest
    assert dest.read_bytes() == DATA and server.gets["a.bin"] == 1
    _assert_no_partials(dest.parent)


def test_two_processes_fetch_once(server):
    server.files["slow.bin"] = (DATA, "slow")
    dest = hub.cached_path("weights", "slow.bin")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=hub.download, args=(server.url("slow.bin"), dest, SHA, False)) for _ in range(2)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        assert [p.exitcode for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    assert dest.read_bytes() == DATA
    assert server.gets["slow.bin"] == 1
    _assert_no_partials(dest.parent)


def test_waiter_blocks_on_lock_then_uses_the_verified_file(server):
    server.files["a.bin"] = (DATA, "ok")
    dest = hub.cached_path("weights", "a.bin")
    dest.parent.mkdir(parents=True)
    result = {}

    def fetch():
        try:
            result["path"] = hub.download(server.url("a.bin"), dest, SHA, progress=False)
        except BaseException as e:  # noqa: BLE001 (reported to the main thread)
            result["error"] = e

    fd = os.open(dest.with_name("a.bin.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # "another process" is downloading
        t = threading.Thread(target=fetch, daemon=True)
        t.start()
        t.join(0.3)
        assert t.is_alive() and server.gets["a.bin"] == 0  # waiting on the lock, not downloading
        tmp = dest.with_name("finished.tmp")
        tmp.write_bytes(DATA)
        os.replace(tmp, dest)  # the other process finishes...
    finally:
        os.close(fd)  # ...and releases the lock
    t.join(10)
    assert not t.is_alive() and "error" not in result, result
    assert result["path"] == dest and server.gets["a.bin"] == 0


def test_lock_wait_times_out(server, monkeypatch):
    server.files["a.bin"] = (DATA, "ok")
    monkeypatch.setattr(hub, "LOCK_TIMEOUT", 0.2)
    dest = hub.cached_path("weights", "a.bin")
    dest.parent.mkdir(parents=True)
    fd = os.open(dest.with_name("a.bin.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another process"):
            hub.download(server.url("a.bin"), dest, SHA, progress=False)
    finally:
        os.close(fd)
    assert server.gets["a.bin"] == 0


def test_offline_warm_cache_works_without_the_server(server, monkeypatch):
    server.files["a.bin"] = (DATA, "ok")
    p = hub.resolve(server.url("a.bin"), SHA, "a.bin", progress=False)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    _no_network(monkeypatch)
    assert hub.resolve(server.url("a.bin"), SHA, "a.bin") == p
    assert hub.download(server.url("a.bin"), p, SHA) == p
    assert server.gets["a.bin"] == 1


def test_offline_cold_cache_says_how_to_pre_seed(server, monkeypatch):
    server.files["a.bin"] = (DATA, "ok")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    _no_network(monkeypatch)
    dest = hub.cached_path("weights", "a.bin")
    with pytest.raises(DownloadError, match="pre-seed") as err:
        hub.resolve(server.url("a.bin"), SHA, "a.bin")
    assert "ZOO_OFFLINE" in str(err.value) and str(dest) in str(err.value) and "zoo download" in str(err.value)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"corrupt")  # a cached file that fails its hash is no better offline
    with pytest.raises(DownloadError, match="pre-seed"):
        hub.resolve(server.url("a.bin"), SHA, "a.bin")
    assert server.gets["a.bin"] == 0


def test_file_url_and_relative_local_path(tmp_path, monkeypatch):
    src_dir = tmp_path / "registry"
    src_dir.mkdir()
    src = src_dir / "w.bin"
    src.write_bytes(DATA)
    monkeypatch.setenv("ZOO_OFFLINE", "1")  # local sources open no connection, so they work offline
    _no_network(monkeypatch)

    cached = hub.resolve(src.as_uri(), SHA, "w.bin", progress=False)  # file:// is copied into the cache
    assert cached == hub.cached_path("weights", "w.bin") and cached.read_bytes() == DATA

    local = hub.resolve("w.bin", SHA, "other.bin", kind="datasets", base_dir=src_dir)  # relative to the registry
    assert local == src_dir / "w.bin"  # returned in place, no copy
    assert not hub.cached_path("datasets", "other.bin").exists()
    assert hub.resolve(str(src), SHA, "other.bin") == src  # absolute path

    with pytest.raises(DownloadError) as err:
        hub.resolve("nope.bin", SHA, "nope.bin", base_dir=src_dir)
    assert "nope.bin" in str(err.value) and str(src_dir) in str(err.value)


def test_local_file_with_wrong_hash_is_refused(tmp_path):
    src = tmp_path / "w.bin"
    src.write_bytes(DATA)
    with pytest.raises(DownloadError, match="sha256"):
        hub.resolve("w.bin", BAD, "w.bin", base_dir=tmp_path)
    dest = hub.cached_path("weights", "w.bin")
    with pytest.raises(DownloadError, match="sha256"):
        hub.download(src.as_uri(), dest, BAD, progress=False)
    assert not dest.exists()
    _assert_no_partials(dest.parent)


def test_invalid_arguments_are_refused():
    with pytest.raises(DownloadError, match="64 hex"):
        hub.resolve("http://127.0.0.1:9/x", "abc", "x")
    with pytest.raises(DownloadError, match="scheme"):
        hub.download("ftp://example.org/x", hub.cached_path("weights", "x"), SHA)
    with pytest.raises(DownloadError, match="relative"):
        hub.cached_path("weights", "../escape.bin")
