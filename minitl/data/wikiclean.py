"""MediaWiki markup -> plain, cased paragraphs.

    clean("'''Anarchism''' is a [[political philosophy|philosophy]]{{sfn|Smith|2001}}.")
    -> 'Anarchism is a philosophy.'

Nested constructs (templates inside templates, links inside file captions,
tables inside tables) are removed innermost-first: each pass removes the
constructs that contain no other one, until a pass changes nothing.
"""
import bz2
import html
import re
import xml.etree.ElementTree as ET

MIN_WORDS = 50    # fewer words than this after cleaning = a stub, dropped

# sections whose content is lists of citations or links, not prose
DROP_SECTIONS = {"references", "external links", "see also", "further reading", "notes",
                 "bibliography", "sources", "footnotes", "citations", "notes and references"}

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref\s*>", re.S | re.I)
_DROP_TAGS = re.compile(r"<(math|gallery|timeline|syntaxhighlight|source|score|imagemap|chem|hiero)\b"
                        r"[^>]*>.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"</?[a-zA-Z][^>]*?/?>")
_TEMPLATE = re.compile(r"\{\{(?:(?!\{\{|\}\})[\s\S])*\}\}")       # innermost {{...}}
_TABLE = re.compile(r"\{\|(?:(?!\{\||\|\})[\s\S])*\|\}")          # innermost {| ... |}
_LINK = re.compile(r"\[\[((?:(?!\[\[|\]\])[\s\S])*)\]\]")         # innermost [[...]]
_EXT_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]+(?:\s+([^\]]*))?\]")
_BARE_URL = re.compile(r"https?://\S+")
_BOLD_ITALIC = re.compile(r"'{2,5}")
_HEADING = re.compile(r"^(={1,6})\s*(.*?)\s*\1\s*$")
_MAGIC = re.compile(r"__[A-Z]+__")
_DROP_NAMESPACES = ("category", "file", "image", "media", "wikipedia", "wp", "template",
                    "help", "portal", "user", "special", "talk", "wikt", "wiktionary", "s", "q")


def _repeat(pattern, repl, text):
    while True:
        new = pattern.sub(repl, text)
        if new == text:
            return new
        text = new


def _link(match):
    inner = match.group(1)
    target, _, label = inner.partition("|")
    prefix = target.split(":", 1)[0].strip().lower() if ":" in target else ""
    if prefix in _DROP_NAMESPACES or (prefix and len(prefix) <= 3 and prefix.isalpha()):
        return ""           # categories, files, interlanguage links like [[de:...]]
    if target.startswith(":"):
        target = target[1:]
    return (label.rsplit("|", 1)[-1] if label else target).strip()


def _inline(text):
    """Remove everything but the words, on the whole page at once."""
    text = _COMMENT.sub("", text)
    text = _REF.sub("", text)
    text = _DROP_TAGS.sub("", text)
    text = _repeat(_TEMPLATE, "", text)
    text = _repeat(_TABLE, "", text)
    text = _repeat(_LINK, _link, text)
    text = _EXT_LINK.sub(lambda m: m.group(1) or "", text)
    text = _TAG.sub("", text)
    text = _BOLD_ITALIC.sub("", text)
    text = _MAGIC.sub("", text)
    return text


def clean(wikitext):
    """One page's wikitext -> plain paragraphs joined by blank lines."""
    lines = _inline(wikitext).split("\n")
    paragraphs, current, skipping = [], [], False     # paragraphs: [(is_heading, text)]

    def flush():
        if current:
            paragraphs.append((False, " ".join(current)))
            current.clear()
    for line in lines:
        line = line.strip()
        heading = _HEADING.match(line)
        if heading or not line:
            flush()
            if heading:
                title = heading.group(2).strip()
                skipping = title.lower() in DROP_SECTIONS
                if title and not skipping:
                    paragraphs.append((True, title))
            continue
        if skipping or line.startswith(("|", "!", "{|", "|}")):
            continue          # section being dropped, or table debris left by broken markup
        if line[0] in "*#":         # a list item is a paragraph of its own
            flush()
            paragraphs.append((False, line.lstrip("*#:;").strip()))
            continue
        line = line.lstrip(":;").strip()
        if line:
            current.append(line)
    flush()
    out = []
    for is_heading, p in paragraphs:
        p = html.unescape(html.unescape(p)).replace("\u00a0", " ")
        p = _BARE_URL.sub("", p)
        p = re.sub(r"\(\s*[,;]?\s*\)", "", p)       # "( )" left where a template was
        p = re.sub(r"\(\s*[,;]\s*", "(", p)           # "(; born" -> "(born"
        p = re.sub(r"[ \t]+", " ", p)
        p = re.sub(r" ([,.;:])", r"\1", p).strip()
        if re.search(r"[A-Za-z]{2}", p):
            out.append((is_heading, p))
    # a heading with no text after it (its section was all templates or tables) goes too
    keep = [p for i, (h, p) in enumerate(out) if not h or (i + 1 < len(out) and not out[i + 1][0])]
    return "\n\n".join(keep)


def iter_pages(path):
    """``(title, ns, is_redirect, wikitext)`` for each ``<page>`` of a (bz2) XML dump."""
    opener = bz2.open if str(path).endswith(".bz2") else open
    with opener(path, "rb") as f:
        for _, elem in ET.iterparse(f):
            if elem.tag.rsplit("}", 1)[-1] != "page":
                continue
            def find(tag):
                for child in elem.iter():
                    if child.tag.rsplit("}", 1)[-1] == tag:
                        return child
                return None
            title, ns, text = find("title"), find("ns"), find("text")
            yield (title.text or "", int(ns.text) if ns is not None else 0,
                   find("redirect") is not None, (text.text or "") if text is not None else "")
            elem.clear()


def articles(path, min_words=MIN_WORDS):
    """``[(title, cleaned_text)]`` of real articles: namespace 0, not redirects, not stubs."""
    out = []
    for title, ns, redirect, text in iter_pages(path):
        if ns != 0 or redirect or text.lstrip().lower().startswith("#redirect"):
            continue
        body = clean(text)
        if len(body.split()) >= min_words:
            out.append((title, body))
    return out
