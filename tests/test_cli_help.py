"""Help that teaches (issue 16): every option shows its default, the presets are listed with sizes."""
import argparse
import importlib
import re
import subprocess
import sys

import pytest

from minitl.cli import build_parser
from minitl.commands import _args

# the command modules whose every option must also say what it is (not only its default)
DESCRIBED = ["minitl.commands.lm", "minitl.commands.word2vec", "minitl.commands.datasets",
             "minitl.commands.demo", "minitl.commands.info"]


def _parsers(parser, path=("minitl",)):
    """(path, parser) of every parser below ``parser``, itself included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, path + (name,))


def _options(parser):
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def _shown(default):
    return " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)


def _flat(text):
    return " ".join(text.split())


def test_every_option_of_every_command_shows_its_default():
    checked = 0
    for path, parser in _parsers(build_parser()):
        page = _flat(parser.format_help())
        for action in _options(parser):
            if action.default in (None, False, argparse.SUPPRESS) or isinstance(
                    action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)):
                continue
            help_text = _flat(parser._get_formatter()._expand_help(action))
            want = f"(default: {_shown(action.default)})"
            assert want in help_text, f"{' '.join(path)} {action.option_strings[0]}: {help_text!r} lacks {want}"
            assert want in page
            checked += 1
    assert checked > 40                    # the walk really reached the subcommands


def test_every_option_of_these_commands_says_what_it_is():
    parser = _args.ArgumentParser(prog="minitl")
    sub = parser.add_subparsers()
    pretrain_sub = sub.add_parser("pretrain").add_subparsers()
    for name in DESCRIBED:
        importlib.import_module(name).register(sub, pretrain_sub)
    missing = []
    for path, p in _parsers(parser):
        for action in _options(p):
            words = re.sub(r"\(default: [^)]*\)", "", p._get_formatter()._expand_help(action)).strip()
            if not words:
                missing.append(f"{' '.join(path)} {action.option_strings[0]}")
    assert not missing, f"options with no help text: {missing}"


def test_the_formatter_leaves_out_defaults_there_is_nothing_to_say_about():
    p = _args.ArgumentParser(prog="x")
    p.add_argument("--flag", action="store_true", help="a switch")
    p.add_argument("--size", type=int, default=None, help="a size (default: the preset's)")
    p.add_argument("--n", type=int, default=7)                 # no help: still a line with the default
    p.add_argument("--labels", type=int, nargs="+", default=[100, 1000], help="label counts")
    page = _flat(p.format_help())
    assert "(default: False)" not in page and "(default: None)" not in page
    assert page.count("(default: the preset's)") == 1
    assert "--n N (default: 7)" in page and "label counts (default: 100 1000)" in page


def test_pretrain_gpt_help_names_the_default_corpus_and_the_presets():
    out = _flat(subprocess.run([sys.executable, "-m", "minitl.cli", "pretrain", "gpt", "--help"],
                               capture_output=True, text=True, check=True).stdout)
    assert "(default: wiki)" in out and "wiki+news+tweets-text" in out
    assert "(default: micro)" in out and "minitl presets" in out and "loss.png" in out


def test_the_preset_names_in_the_parser_are_the_models():
    from minitl.commands.lm import PRESET_NAMES
    from minitl.models.blocks import PRESETS
    assert PRESET_NAMES == tuple(PRESETS)


def _gpt_params(n_layer, d_model, block_size, vocab_size, **_):
    C = d_model
    per_layer = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (4 * C * C + 4 * C) + (4 * C * C + C)
    return vocab_size * C + block_size * C + n_layer * per_layer + 2 * C      # tied output layer


def test_presets_table_is_computed_from_the_configs(capsys):
    from minitl.commands.info import preset_rows
    from minitl.models import blocks, elmo, t5
    rows = preset_rows()
    assert [(f, p) for f, p, *_ in rows] == ([("GPT", p) for p in blocks.PRESETS] + [("BERT", p) for p in blocks.PRESETS]
                                             + [("ELMo", p) for p in elmo.PRESETS] + [("T5", p) for p in t5.PRESETS])
    for family, name, layers, heads, width, context, vocab, params in rows:
        if family == "GPT":
            cfg = blocks.PRESETS[name]
            assert params == _gpt_params(**cfg), name
            assert (layers, heads, width, context, vocab) == (str(cfg["n_layer"]), str(cfg["n_head"]), cfg["d_model"],
                                                              cfg["block_size"], cfg["vocab_size"])
    assert rows[0][-1] == 42_880                                   # GPT nano, by hand: 17,408 + 2 x 12,704 + 64
    assert main_presets(capsys).splitlines()[0].split()[:3] == ["model", "preset", "layers"]


def main_presets(capsys):
    from minitl.cli import main
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "1,850,112" in out                                      # GPT micro
    return out


@pytest.mark.parametrize("argv", [["demo", "--draws", "0"], ["demo", "--labels", "-5"], ["demo", "--epochs", "x"]])
def test_demo_refuses_bad_numbers_while_parsing(argv):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
