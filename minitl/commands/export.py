"""``minitl export DIR --format hf --out OUT``: a GPT or BERT checkpoint as a Hugging Face
``transformers`` directory (GPT-2 / Megatron-BERT names; the mapping is in ``minitl/export.py``)."""
import sys


def register(subparsers, pretrain_subparsers):
    p = subparsers.add_parser(
        "export", help="write a GPT/BERT checkpoint for Hugging Face transformers",
        description="Write a minitl GPT or BERT (a from_pretrained directory, or a training run "
                    "directory and its model/) as a transformers directory: GPT loads with "
                    "AutoModelForCausalLM (GPT-2), BERT with AutoModelForMaskedLM (Megatron-BERT).")
    p.add_argument("dir", help="checkpoint directory (config.json + model.safetensors) or run directory")
    p.add_argument("--format", choices=["hf"], required=True, help="hf: Hugging Face transformers")
    p.add_argument("--out", required=True, help="output directory (replaced if it holds a checkpoint)")
    p.set_defaults(func=export)


def export(args, out=None):
    from minitl.export import export_hf
    out = out or sys.stdout
    try:
        where = export_hf(args.dir, args.out)
    except (FileNotFoundError, FileExistsError, ValueError, TypeError) as e:
        print(f"minitl export: {e}", file=sys.stderr)
        return 2
    import json
    import os
    with open(os.path.join(where, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    print(f"wrote {where} ({meta['transformers_class']})\n"
          f"  from transformers import {meta['load_with']}\n"
          f"  model = {meta['load_with']}.from_pretrained({where!r})", file=out)
    if os.path.exists(os.path.join(where, "minitl_tokenizer.json")):
        print("  ids: minitl.text.BPETokenizer.load(" + repr(os.path.join(where, "minitl_tokenizer.json"))
              + ").encode(text)", file=out)
    return 0
