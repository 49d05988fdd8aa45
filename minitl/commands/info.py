"""``minitl info``: what this machine is to minitl -- versions, SIMD width and tiles, threads, cache, models;
``minitl presets``: the model sizes."""


def register(subparsers, pretrain_subparsers):
    p = subparsers.add_parser("info", help="versions, the kernels' view of this CPU, the cache and its models")
    p.set_defaults(func=info)
    register_presets(subparsers)


def info(args):
    import os
    import numba
    import numpy as np
    import minitl
    from minitl import hub
    from minitl.data.registry import cache_root
    from minitl.kernels import machine_info
    print(f"minitl {minitl.__version__}, numpy {np.__version__}, numba {numba.__version__} "
          f"({numba.config.NUMBA_NUM_THREADS} threads), "
          f"{os.cpu_count()} CPUs")
    for k, v in machine_info().items():
        print(f"  {k:<22} {v}")
    from minitl import _process
    print(f"  {'malloc':<22} {_process.MALLOC}")
    print(f"  {'threading_why':<22} {_process.THREADING[1]}")
    print(f"  {'openblas_thread_timeout':<22} {os.environ.get('OPENBLAS_THREAD_TIMEOUT')}")
    print(f"cache: {cache_root()}")
    for name in hub.NAMES:
        card = hub.card(name)
        if card is None:
            print(f"  {name:<5} not built (`minitl pretrain all` builds it)")
        else:
            what = f"{card['steps']} steps" if "steps" in card else f"{card['recipe'].get('epochs')} epochs"
            print(f"  {name:<5} {what}, built {card['built']} in {card['seconds']:.0f} s on {card.get('cpu')}")
    return 0


def register_presets(subparsers):
    p = subparsers.add_parser("presets", help="the model sizes: layers, heads, width, context, parameters",
                              description="The named model sizes of `minitl pretrain gpt|bert|elmo|t5 --preset`, "
                                          "computed from the configs (parameters: a model built at the preset's "
                                          "vocabulary size), with the measured time per 1,000 steps where a "
                                          "cached default model of that size was built on this machine.")
    p.set_defaults(func=presets)


def preset_rows():
    """[(family, preset, layers, heads, width, context, vocab, parameters)], each model built from its config."""
    from minitl.models import BERT, BERTConfig, GPT, GPTConfig
    from minitl.models import blocks, elmo, t5
    rows = []
    families = [("GPT", GPT, GPTConfig, blocks.PRESETS), ("BERT", BERT, BERTConfig, blocks.PRESETS),
                ("ELMo", elmo.ELMo, elmo.ELMoConfig, elmo.PRESETS), ("T5", t5.T5, t5.T5Config, t5.PRESETS)]
    for family, Model, Config, table in families:
        for name in table:
            cfg = Config.from_preset(name)
            heads = getattr(cfg, "n_head", None)
            layers = f"{cfg.n_layer}+{cfg.n_layer}" if family == "T5" else (
                f"{cfg.n_layer} x 2 dir." if family == "ELMo" else str(cfg.n_layer))
            rows.append((family, name, layers, "-" if heads is None else str(heads), cfg.d_model,
                         cfg.block_size, cfg.vocab_size, Model(cfg).num_parameters()))
    return rows


def _measured():
    """{(FAMILY, preset): minutes per 1,000 steps} from the cached default models' cards."""
    from minitl import hub
    out = {}
    for name in hub.NAMES:
        card = hub.card(name)
        recipe = (card or {}).get("recipe", {})
        if card and card.get("steps") and recipe.get("preset") and recipe.get("kind"):
            out[(recipe["kind"].upper(), recipe["preset"])] = card["seconds"] / 60 / card["steps"] * 1000
    return out


def presets(args):
    measured = _measured()
    head = ("model", "preset", "layers", "heads", "width", "context", "vocab", "parameters", "min/1,000 steps")
    rows = [head] + [(f, p, lay, h, str(w), str(c), f"{v:,}", f"{n:,}",
                      f"{measured[(f.upper(), p)]:.0f}" if (f.upper(), p) in measured else "")
                     for f, p, lay, h, w, c, v, n in preset_rows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for i, r in enumerate(rows):
        print("  ".join(c.rjust(w) if j >= 2 else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("width = d_model; context = block_size in tokens (T5: encoder); parameters at the preset's vocab "
          "(a --vocab-size changes the embedding rows); min/1,000 steps: batch 32, measured when the cached "
          "default model was built (`minitl info`), on a shared machine")
    return 0
