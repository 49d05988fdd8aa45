"""SST-2 / IMDB / WikiText-2 loaders on small archives of the real formats, made here
and served from 127.0.0.1, so the real download -> verify -> parse -> cache path runs."""
import dataclasses
import hashlib

import pytest

import minitl.data as data
from minitl.data import canonical
from minitl.data.fetch import ChecksumError, OfflineError
from test_fetch import _tar_gz, _zip, closed_port_url, server  # noqa: F401  (server is a fixture)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MINITL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


SST2 = _zip({
    "SST-2/train.tsv": "sentence\tlabel\nhide new secretions from the parental units \t0\n"
                       "contains no wit , only labored gags \t0\nthat loves its characters \t1\n",
    "SST-2/dev.tsv": "sentence\tlabel\nit 's a charming and often affecting journey . \t1\n",
    "SST-2/test.tsv": "index\tsentence\n0\tuneasy mishmash of styles and genres .\n"})
IMDB = _tar_gz({
    "aclImdb/train/pos/10_9.txt": b"Great film.<br /><br />Loved it.",
    "aclImdb/train/neg/3_1.txt": b"Awful.",
    "aclImdb/train/neg/2_2.txt": "Bad, but the caf\u00e9 scene was fine.".encode(),
    "aclImdb/train/unsup/0_0.txt": b"unlabelled",
    "aclImdb/test/pos/0_10.txt": b"Superb.",
    "aclImdb/test/neg/1_4.txt": b"Dull.",
    "aclImdb/imdb.vocab": b"the\nand\n"})
WT_TRAIN = (" \n = Valkyria Chronicles III = \n \n Senj\u014d no Valkyria 3 is a game . \n \n"
            " = = Gameplay = = \n \n It is played . \n \n = Tower Building = \n \n A tower . \n")
WIKITEXT = _zip({"wikitext-2-raw/wiki.train.raw": WT_TRAIN,
                 "wikitext-2-raw/wiki.valid.raw": " \n = Homarus = \n \n A lobster . \n",
                 "wikitext-2-raw/wiki.test.raw": " \n = Robert Boulter = \n \n An actor . \n"})
ARCHIVES = {"sst2": SST2, "imdb": IMDB, "wikitext2": WIKITEXT}


def serve(server, monkeypatch, name, body=None, checksum=None, first_url_missing=False):
    """Point SPECS[name] at the local server (keeping its real filename and checksum algorithm)."""
    body = ARCHIVES[name] if body is None else body
    spec = canonical.SPECS[name]
    algo = spec.checksum[0]
    server.files["/" + spec.filename] = ("application/octet-stream", body)
    urls = (f"{server.url}/{spec.filename}",)
    if first_url_missing:
        urls = (f"{server.url}/gone/{spec.filename}",) + urls
    new = dataclasses.replace(spec, urls=urls, size=None,
                              checksum=checksum or (algo, hashlib.new(algo, body).hexdigest()))
    monkeypatch.setitem(canonical.SPECS, name, new)
    return new


def test_sst2(server, home, monkeypatch):
    serve(server, monkeypatch, "sst2")
    train = data.load("sst2", "train")
    assert train.texts == ["hide new secretions from the parental units", "contains no wit , only labored gags",
                           "that loves its characters"]
    assert list(train.labels) == [0, 0, 1] and train.label_names == ["negative", "positive"]
    val = data.load("sst2", "validation")
    assert val.texts == ["it 's a charming and often affecting journey ."] and list(val.labels) == [1]
    assert sorted(p.name for p in home.rglob("*") if p.is_file()) == [
        ".verified.json", "train.jsonl", "validation.jsonl"]   # + the sha256 of each split as written
    with pytest.raises(ValueError, match="splits"):
        data.load("sst2", "test")


def test_imdb_reads_pos_neg_in_a_fixed_order_and_skips_unsup(server, home, monkeypatch):
    serve(server, monkeypatch, "imdb", first_url_missing=True)          # the mirror URL is used
    train = data.load("imdb", "train")
    assert train.texts == ["Bad, but the caf\u00e9 scene was fine.", "Awful.", "Great film.\nLoved it."]
    assert list(train.labels) == [0, 0, 1]
    test = data.load("imdb", "test")
    assert test.texts == ["Dull.", "Superb."] and list(test.labels) == [0, 1]
    assert data.registry.is_cached("imdb")


def test_wikitext2_splits_into_articles(server, home, monkeypatch):
    serve(server, monkeypatch, "wikitext2")
    train = data.load("wikitext2", "train")
    assert train.labels is None
    assert train.texts == ["= Valkyria Chronicles III =\nSenj\u014d no Valkyria 3 is a game .\n= = Gameplay = =\nIt is played .",
                           "= Tower Building =\nA tower ."]
    assert data.corpus("wikitext2", "test") == ["= Robert Boulter =\nAn actor ."]


def test_canonical_checksum_mismatch_leaves_nothing(server, home, monkeypatch):
    serve(server, monkeypatch, "sst2", checksum=("md5", "0" * 32))
    with pytest.raises(ChecksumError) as e:
        data.load("sst2")
    assert "expected " + "0" * 32 in str(e.value) and hashlib.md5(SST2).hexdigest() in str(e.value)
    assert not [p for p in home.rglob("*") if p.is_file()]


def test_canonical_offline_message(home, monkeypatch):
    spec = canonical.SPECS["imdb"]
    monkeypatch.setitem(canonical.SPECS, "imdb", dataclasses.replace(
        spec, urls=(closed_port_url() + "/aclImdb_v1.tar.gz",)))
    with pytest.raises(OfflineError) as e:
        data.load("imdb")
    msg = str(e.value)
    assert "'imdb'" in msg and "aclImdb_v1.tar.gz" in msg and str(home / "downloads") in msg and "load_file" in msg
    assert not [p for p in home.rglob("*") if p.is_file()]


def test_canonical_archive_placed_by_hand(home, monkeypatch):
    spec = canonical.SPECS["wikitext2"]
    monkeypatch.setitem(canonical.SPECS, "wikitext2", dataclasses.replace(
        spec, urls=(closed_port_url() + "/x.zip",), checksum=("sha256", hashlib.sha256(WIKITEXT).hexdigest())))
    (home / "downloads").mkdir(parents=True)
    (home / "downloads" / spec.filename).write_bytes(WIKITEXT)
    assert data.load("wikitext2", "validation").texts == ["= Homarus =\nA lobster ."]
    assert not (home / "downloads" / spec.filename).exists()
