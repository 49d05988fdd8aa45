"""Download a pinned file, check it, extract what is needed -- and nothing half-written.

    spec = registry.SOURCES["gensim"]
    paths = fetch_source(spec)          # {basename: Path} of the extracted members

The file's URL comes from the package index the user's pip is configured with
(``$PIP_INDEX_URL``, else ``pip config get global.index-url``, else PyPI), read
through the standard "simple" API (PEP 691 JSON, or the PEP 503 HTML page).
Every download goes to a ``.part`` file that is renamed only after its
checksum matches; on a mismatch the part file is removed and the error says
expected vs got.  A member already in the cache is checked too (``cache.verify``:
hashed on first use in a process and whenever its size or mtime changes); a
wrong one is removed, with a warning naming both checksums, and fetched again.
Fetching holds a lock on the cache folder, so concurrent fetches take turns.
"""
import hashlib
import html.parser
import json
import os
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path

from minitl.data import cache
from minitl.data.cache import file_digest  # noqa: F401  (re-exported: canonical.py and tests use it)
from minitl.data.registry import cache_root
from minitl.progress import Progress

DEFAULT_INDEX = "https://pypi.org/simple/"
TIMEOUT_S = 60


class ChecksumError(ValueError):
    """A downloaded or extracted file does not match its pinned checksum."""


class OfflineError(RuntimeError):
    """A file is not in the cache and could not be downloaded."""


@lru_cache(maxsize=None)
def _pip_config_index():
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and value else None


def redact(url):
    """``url`` without any ``user:password@`` part, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))


def index_url():
    """The package index to use: ``$PIP_INDEX_URL``, pip's config, or PyPI."""
    url = os.environ.get("PIP_INDEX_URL") or _pip_config_index() or DEFAULT_INDEX
    return url if url.endswith("/") else url + "/"


class _LinkParser(html.parser.HTMLParser):
    """Collects ``(text, href)`` of every ``<a>`` on a PEP 503 simple page."""

    def __init__(self):
        super().__init__()
        self.links, self._href, self._text = [], None, []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append(("".join(self._text).strip(), self._href))
            self._href = None


def find_file(project, filename, index=None):
    """``(url, sha256 or None)`` of ``filename`` on the simple page of ``project``."""
    page = urllib.parse.urljoin(index or index_url(), project + "/")
    req = urllib.request.Request(page, headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
        body = resp.read()
        ctype = resp.headers.get("Content-Type", "")
    if "json" in ctype:
        for f in json.loads(body)["files"]:
            if f["filename"] == filename:
                return urllib.parse.urljoin(page, f["url"]), f.get("hashes", {}).get("sha256")
    else:
        parser = _LinkParser()
        parser.feed(body.decode("utf-8", errors="replace"))
        for text, href in parser.links:
            url, _, frag = href.partition("#")
            if text == filename or url.rsplit("/", 1)[-1] == filename:
                sha = frag[len("sha256="):] if frag.startswith("sha256=") else None
                return urllib.parse.urljoin(page, url), sha
    raise FileNotFoundError(f"{filename} is not listed on the package index page {redact(page)}")


def _part_path(dest):
    return dest.with_name(f"{dest.name}.{os.getpid()}.part")


def download(url, dest, checksum=None, size=None, desc=None, quiet=False):
    """Stream ``url`` to ``dest`` through a ``.part`` file; verify; rename.

    Args:
        checksum: ``(algorithm, hexdigest)`` such as ``("sha256", "a3f5...")``, or None
            where no checksum is published (the sha256 got is written beside the
            file as ``<name>.sha256`` so later runs can be compared).
    Returns:
        the Path written.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    algo = checksum[0] if checksum else "sha256"
    h, sha = hashlib.new(algo), hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp, open(part, "wb") as out:
            total = size or int(resp.headers.get("Content-Length") or 0) or None
            bar = Progress(total=total, desc=desc or f"fetch {dest.name}", unit="B", disable=quiet)
            while True:
                chunk = resp.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                sha.update(chunk)
                bar.update(len(chunk))
            bar.close()
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if checksum and h.hexdigest() != checksum[1]:
        part.unlink()
        raise ChecksumError(f"{dest.name} from {redact(url)}: {algo} mismatch, expected {checksum[1]} "
                            f"got {h.hexdigest()}; the partial file was removed")
    os.replace(part, dest)
    if not checksum:
        dest.with_name(dest.name + ".sha256").write_text(sha.hexdigest() + "\n")
    return dest


def sha256_file(path):
    return file_digest(path, "sha256")


def _open_member(archive, member):
    """A binary file object for ``member`` inside a tar/zip/wheel ``archive``."""
    if zipfile.is_zipfile(archive):
        return zipfile.ZipFile(archive).open(member)
    tf = tarfile.open(archive, "r:*")
    f = tf.extractfile(tf.getmember(member))
    if f is None:
        raise FileNotFoundError(f"{member} in {archive} is not a regular file")
    return f


def extract_member(archive, member, dest, sha256=None):
    """Copy one ``member`` of ``archive`` to ``dest`` (via a .part file), checking its sha256.

    Only the named member is read: no ``extractall``, so no path in the archive
    can write outside the cache.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, h = _part_path(dest), hashlib.sha256()
    try:
        with _open_member(archive, member) as src, open(part, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                out.write(chunk)
                h.update(chunk)
    except KeyError:
        part.unlink(missing_ok=True)
        raise FileNotFoundError(f"{member} is not in {Path(archive).name}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if sha256 and h.hexdigest() != sha256:
        part.unlink()
        raise ChecksumError(f"{member} in {Path(archive).name}: sha256 mismatch, expected {sha256} "
                            f"got {h.hexdigest()}; the partial file was removed")
    os.replace(part, dest)
    return dest


def _offline_message(spec, dataset, page, err):
    where = cache_root() / "downloads" / spec.filename
    return (f"dataset {dataset!r} needs {spec.filename} ({spec.size:,} bytes, sha256 {spec.sha256}) "
            f"from the package index {redact(page)}, which could not be reached ({err}). "
            f"Either connect to the internet (or set PIP_INDEX_URL to a reachable mirror), "
            f"or put that file at {where}, "
            f"or use your own data with minitl.data.load_file(path).")


def _missing_members(spec, paths):
    """Members not in the cache or not matching their pinned sha256 (wrong ones are removed, with a warning)."""
    missing = []
    for member, sha in spec.members.items():
        dest = paths[member.rsplit("/", 1)[-1]]
        exists = dest.exists()
        problem = cache.verify(dest, sha, remove=True)
        if problem:
            if exists:
                warnings.warn(f"cached dataset file: {problem}; fetching it again", stacklevel=3)
            missing.append(member)
    return missing


def fetch_source(spec, dataset=None, quiet=False):
    """Make sure every member of ``spec`` (a ``registry.PackageFile``) is in the cache, verified.

    Returns ``{basename: Path}``. Each cached member is checked against its
    pinned sha256 (``cache.verify``); a wrong one is removed and fetched again.
    Downloads the package file only when a member is missing; a package file
    already placed in ``<cache>/downloads/`` is used as is (after its sha256 is
    checked), and removed once its members are out.  Holds a lock on the cache folder
    while fetching, so two processes never delete each other's files.
    """
    outdir = cache_root() / spec.key
    paths = {m.rsplit("/", 1)[-1]: outdir / m.rsplit("/", 1)[-1] for m in spec.members}
    if not _missing_members(spec, paths):
        return paths
    with cache.lock(cache_root()):
        missing = _missing_members(spec, paths)  # another process may have fetched them meanwhile
        if missing:
            _fetch_members(spec, paths, missing, dataset, quiet)
    return paths


def _fetch_members(spec, paths, missing, dataset, quiet):
    archive = cache_root() / "downloads" / spec.filename
    if archive.exists():
        got = sha256_file(archive)
        if got != spec.sha256:
            archive.unlink()
            raise ChecksumError(f"{archive}: sha256 mismatch, expected {spec.sha256} got {got}; "
                                "the file was removed, fetch it again")
    else:
        page = urllib.parse.urljoin(index_url(), spec.project + "/")
        try:
            url, listed = find_file(spec.project, spec.filename)
        except (urllib.error.URLError, OSError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            raise OfflineError(_offline_message(spec, dataset or spec.key, page, e)) from e
        if listed and listed != spec.sha256:
            raise ChecksumError(f"{spec.filename}: the index {redact(page)} lists sha256 {listed}, "
                                f"expected {spec.sha256} (pinned); nothing was downloaded")
        try:
            download(url, archive, checksum=("sha256", spec.sha256), size=spec.size, quiet=quiet)
        except urllib.error.URLError as e:
            raise OfflineError(_offline_message(spec, dataset or spec.key, url, e)) from e
    for member in missing:
        extract_member(archive, member, paths[member.rsplit("/", 1)[-1]], spec.members[member])
    archive.unlink(missing_ok=True)
