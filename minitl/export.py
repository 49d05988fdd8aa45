"""Take the weights along: write a minitl GPT or BERT as a Hugging Face ``transformers`` directory.

    minitl export runs/gpt-nano --format hf --out hf-gpt          # or, from Python:
    minitl.export.export_hf("runs/gpt-nano/model", "hf-gpt")

    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM
    gpt = AutoModelForCausalLM.from_pretrained("hf-gpt")          # GPT2LMHeadModel
    bert = AutoModelForMaskedLM.from_pretrained("hf-bert")        # MegatronBertForMaskedLM

Both give minitl's logits (within 1e-4, ``tests/test_export.py``) on the same ids.
The output directory holds ``config.json`` (a transformers config), ``model.safetensors``
(transformers' parameter names), ``meta.json`` (where it came from) and, when the
checkpoint had one, ``minitl_tokenizer.json``: minitl's byte-level BPE is not a
``tokenizers`` file, so encode with ``minitl.text.BPETokenizer.load`` and pass the ids.

Which architecture, and why
---------------------------
minitl's ``Block`` is pre-LayerNorm (``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))``), with
a final ``ln_f``, learned absolute positions from 0, no LayerNorm on the embeddings, and
GELU's tanh approximation (transformers' ``"gelu_new"``; the exact erf ``"gelu"`` differs
by up to ~1e-3 per activation, which the test shows exceeds the tolerance).

* GPT -> GPT-2 (``GPT2LMHeadModel``): the same pre-LN block, learned positions, final LN
  and tied output layer. GPT-2's ``Conv1D`` stores weights as (in, out), so every
  Linear weight is transposed; q, k, v stay fused in ``c_attn`` in the same order.
* BERT -> Megatron-BERT (``MegatronBertForMaskedLM``). Classic BERT (and RoBERTa,
  ALBERT...) is post-LN. RoBERTa-PreLayerNorm is pre-LN but keeps a LayerNorm on the
  summed embeddings and numbers positions from ``pad_token_id + 1``; neither exists in
  minitl. Megatron-BERT is pre-LN with no embedding LayerNorm, positions from 0, token-type
  embeddings, a final encoder LN and BERT's MLM head (dense -> act -> LN -> tied decoder
  + bias): exactly minitl's BERT. q, k, v are split out of minitl's fused ``qkv``.

Name mapping (minitl -> transformers; ``i`` = block, ``.T`` = transposed)
--------------------------------------------------------------------------
GPT -> GPT2LMHeadModel::

    wte.weight                  transformer.wte.weight      (lm_head.weight is tied to it)
    wpe.weight                  transformer.wpe.weight
    blocks.i.ln_1.{weight,bias} transformer.h.i.ln_1.{weight,bias}
    blocks.i.attn.qkv.weight    transformer.h.i.attn.c_attn.weight  .T   (C, 3C)
    blocks.i.attn.qkv.bias      transformer.h.i.attn.c_attn.bias
    blocks.i.attn.proj.*        transformer.h.i.attn.c_proj.*       (weight .T)
    blocks.i.ln_2.*             transformer.h.i.ln_2.*
    blocks.i.mlp.fc.*           transformer.h.i.mlp.c_fc.*          (weight .T)
    blocks.i.mlp.proj.*         transformer.h.i.mlp.c_proj.*        (weight .T)
    ln_f.*                      transformer.ln_f.*

BERT -> MegatronBertForMaskedLM::

    wte.weight                  bert.embeddings.word_embeddings.weight  (cls.predictions.decoder.weight tied)
    wpe.weight                  bert.embeddings.position_embeddings.weight
    wtt.weight                  bert.embeddings.token_type_embeddings.weight
    blocks.i.ln_1.*             bert.encoder.layer.i.attention.ln.*
    blocks.i.attn.qkv.weight    rows [0:C], [C:2C], [2C:3C] -> bert.encoder.layer.i.attention.self.{query,key,value}.weight
    blocks.i.attn.qkv.bias      the same thirds -> ...attention.self.{query,key,value}.bias
    blocks.i.attn.proj.*        bert.encoder.layer.i.attention.output.dense.*
    blocks.i.ln_2.*             bert.encoder.layer.i.ln.*
    blocks.i.mlp.fc.*           bert.encoder.layer.i.intermediate.dense.*
    blocks.i.mlp.proj.*         bert.encoder.layer.i.output.dense.*
    ln_f.*                      bert.encoder.ln.*
    mlm_dense.*                 cls.predictions.transform.dense.*
    mlm_ln.*                    cls.predictions.transform.LayerNorm.*
    mlm_bias                    cls.predictions.bias               (decoder.bias tied to it)
    pooler.*                    bert.pooler.dense.*  (used by AutoModel / ...ForSequenceClassification;
                                                      ...ForMaskedLM reports it as unused)

transformers' ``nn.Linear`` stores (out, in) like minitl, so only GPT-2 transposes.
"""
import os

import numpy as np

from minitl import checkpoint

FORMATS = ("hf",)


def _gelu_name():
    return "gelu_new"       # minitl.nn.functional.gelu is the tanh approximation


def _ln_eps(model):
    eps = {m.eps for name, m in model.named_modules() if type(m).__name__ == "LayerNorm"}
    if len(eps) != 1:
        raise ValueError(f"export: the model's LayerNorms use several eps values {sorted(eps)}; "
                         "transformers configs have one")
    return eps.pop()


def _special_ids(model):
    from minitl.text.bpe import BPETokenizer
    tok = model.tokenizer or BPETokenizer
    return {"pad": tok.pad_id, "eot": tok.eot_id, "cls": tok.cls_id, "sep": tok.sep_id, "mask": tok.mask_id}


def gpt_to_hf(model):
    """A minitl GPT as GPT-2: (transformers config dict, {name: float32 array}).

    Args:
        model: a ``minitl.models.GPT``.
    Returns:
        (config, state_dict) for ``GPT2LMHeadModel``.
    """
    cfg, sd = model.config, {k: np.asarray(v, np.float32) for k, v in model.state_dict().items()}
    ids = _special_ids(model)
    config = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": cfg.vocab_size, "n_positions": cfg.block_size, "n_embd": cfg.d_model,
        "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_inner": 4 * cfg.d_model,
        "activation_function": _gelu_name(), "layer_norm_epsilon": _ln_eps(model),
        "resid_pdrop": cfg.dropout, "embd_pdrop": cfg.dropout, "attn_pdrop": cfg.dropout,
        "scale_attn_weights": True, "tie_word_embeddings": True,
        "bos_token_id": ids["eot"], "eos_token_id": ids["eot"], "dtype": "float32",
    }
    out = {"transformer.wte.weight": sd["wte.weight"], "transformer.wpe.weight": sd["wpe.weight"],
           "transformer.ln_f.weight": sd["ln_f.weight"], "transformer.ln_f.bias": sd["ln_f.bias"]}
    for i in range(cfg.n_layer):
        src, dst = f"blocks.{i}.", f"transformer.h.{i}."
        for a, b in (("ln_1", "ln_1"), ("ln_2", "ln_2")):
            out[f"{dst}{b}.weight"], out[f"{dst}{b}.bias"] = sd[f"{src}{a}.weight"], sd[f"{src}{a}.bias"]
        for a, b in (("attn.qkv", "attn.c_attn"), ("attn.proj", "attn.c_proj"),
                     ("mlp.fc", "mlp.c_fc"), ("mlp.proj", "mlp.c_proj")):
            out[f"{dst}{b}.weight"] = sd[f"{src}{a}.weight"].T        # Conv1D keeps (in, out)
            out[f"{dst}{b}.bias"] = sd[f"{src}{a}.bias"]
    return config, out


def bert_to_hf(model):
    """A minitl BERT as Megatron-BERT: (transformers config dict, {name: float32 array}).

    Args:
        model: a ``minitl.models.BERT``.
    Returns:
        (config, state_dict) for ``MegatronBertForMaskedLM``.
    """
    cfg, sd = model.config, {k: np.asarray(v, np.float32) for k, v in model.state_dict().items()}
    C, ids = cfg.d_model, _special_ids(model)
    config = {
        "architectures": ["MegatronBertForMaskedLM"], "model_type": "megatron-bert",
        "vocab_size": cfg.vocab_size, "hidden_size": C, "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head, "intermediate_size": 4 * C, "hidden_act": _gelu_name(),
        "hidden_dropout_prob": cfg.dropout, "attention_probs_dropout_prob": cfg.dropout,
        "max_position_embeddings": cfg.block_size, "type_vocab_size": cfg.type_vocab_size,
        "layer_norm_eps": _ln_eps(model), "position_embedding_type": "absolute",
        "pad_token_id": ids["pad"], "tie_word_embeddings": True, "dtype": "float32",
    }
    e = "bert.embeddings."
    out = {f"{e}word_embeddings.weight": sd["wte.weight"], f"{e}position_embeddings.weight": sd["wpe.weight"],
           f"{e}token_type_embeddings.weight": sd["wtt.weight"], "cls.predictions.bias": sd["mlm_bias"]}
    pairs = [("ln_f", "bert.encoder.ln"), ("mlm_dense", "cls.predictions.transform.dense"),
             ("mlm_ln", "cls.predictions.transform.LayerNorm"), ("pooler", "bert.pooler.dense")]
    for i in range(cfg.n_layer):
        src, dst = f"blocks.{i}.", f"bert.encoder.layer.{i}."
        pairs += [(f"{src}ln_1", f"{dst}attention.ln"), (f"{src}attn.proj", f"{dst}attention.output.dense"),
                  (f"{src}ln_2", f"{dst}ln"), (f"{src}mlp.fc", f"{dst}intermediate.dense"),
                  (f"{src}mlp.proj", f"{dst}output.dense")]
        for part in ("weight", "bias"):
            qkv = sd[f"{src}attn.qkv.{part}"]                           # (3C, C) or (3C,)
            for j, name in enumerate(("query", "key", "value")):
                out[f"{dst}attention.self.{name}.{part}"] = qkv[j * C:(j + 1) * C]
    for a, b in pairs:
        out[f"{b}.weight"], out[f"{b}.bias"] = sd[f"{a}.weight"], sd[f"{a}.bias"]
    return config, out


def to_hf(model):
    """(transformers config, state dict) for a minitl GPT or BERT; see the module docstring."""
    from minitl.models import BERT, GPT
    if isinstance(model, GPT):
        return gpt_to_hf(model)
    if isinstance(model, BERT):
        return bert_to_hf(model)
    raise TypeError(f"export: cannot export a {type(model).__name__}; expected a minitl GPT or BERT")


def load_model(directory):
    """A GPT or BERT from a ``save_pretrained`` directory, or from a training run directory
    (its final ``model/``), chosen by meta.json's "model" (or the weights' names)."""
    from minitl.models import BERT, GPT
    directory = os.fspath(directory)
    if not os.path.exists(os.path.join(directory, checkpoint.CONFIG)) and \
            os.path.exists(os.path.join(directory, "model", checkpoint.CONFIG)):
        directory = os.path.join(directory, "model")      # a run directory: its final model
    state, config, meta = checkpoint.load_dir(directory)
    kind = config.get("model") or meta.get("model") or ("BERT" if "mlm_bias" in state else
                                                         "GPT" if "wte.weight" in state else None)
    if kind not in ("GPT", "BERT"):
        raise ValueError(f"export: {directory} holds a {kind!r} checkpoint; only GPT and BERT "
                         "have a transformers counterpart")
    return (GPT if kind == "GPT" else BERT).from_pretrained(directory), directory


def export_hf(src, out):
    """Write ``src`` (a minitl GPT/BERT, or its checkpoint or run directory) as a transformers directory.

    Args:
        src: a ``GPT``/``BERT`` model, or a directory ``load_model`` reads.
        out: the output directory (replaced atomically if it already holds a checkpoint).
    Returns:
        The absolute path of ``out``.
    """
    model, where = (src, None) if hasattr(src, "state_dict") else load_model(src)
    config, state = to_hf(model)
    state = {k: np.ascontiguousarray(v, np.float32) for k, v in state.items()}
    meta = {"exported_from": os.path.abspath(where) if where else None, "minitl_model": type(model).__name__,
            "transformers_class": config["architectures"][0],
            "load_with": "AutoModelForCausalLM" if config["model_type"] == "gpt2" else "AutoModelForMaskedLM"}
    extra = {"minitl_tokenizer.json": model.tokenizer.save} if model.tokenizer is not None else None
    return checkpoint.save_dir(out, state, config, meta=meta, extra_files=extra)
