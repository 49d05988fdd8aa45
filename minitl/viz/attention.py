"""Plot where each token looks: the attention map of one layer for one sentence.

    from minitl.viz import plot_attention
    plot_attention(GPT.from_pretrained("runs/gpt/model"), "The cat sat on the mat", layer=0,
                   path="attention.png")

Row i of a head's map is the distribution token i spreads over the tokens it
may see (a causal GPT: only itself and the past, so the upper triangle is
empty; BERT: the whole sentence).  The numbers come from ``model.trace()``.
"""
from typing import List, Optional, Tuple

import numpy as np


def attention_maps(model, text: str, tokenizer=None) -> Tuple[List[str], List[np.ndarray]]:
    """(tokens, [per layer (nh, T, T) array]) for one text, via ``model.trace()``."""
    import minitl
    tok = tokenizer or model.tokenizer
    if tok is None:
        raise ValueError("attention_maps: the model has no tokenizer; pass tokenizer=")
    bert = type(model).__name__ == "BERT"
    ids = tok.encode(text)[:model.config.block_size - (2 if bert else 0)]
    if bert:
        ids = [tok.cls_id] + ids + [tok.sep_id]
    if not ids:
        raise ValueError(f"attention_maps: {text!r} encodes to no tokens")
    labels = [tok.decode([i]) for i in ids]
    was_training = model.training
    model.eval()
    with minitl.no_grad(), model.trace() as tr:
        model.hidden(np.array([ids]))
    model.train(was_training)
    return labels, [a[0] for a in tr.attention]


def plot_attention(model, text: str, layer: int = 0, head: Optional[int] = None, path: str = "attention.png",
                   tokenizer=None) -> str:
    """Save a PNG of layer ``layer``'s attention: one panel per head, or only ``head``.

    Returns the path written.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels, maps = attention_maps(model, text, tokenizer)
    if not -len(maps) <= layer < len(maps):
        raise IndexError(f"plot_attention: layer {layer} out of range for {len(maps)} layers")
    att = maps[layer]                                      # (nh, T, T)
    heads = range(att.shape[0]) if head is None else [head]
    T = len(labels)
    fig, axes = plt.subplots(1, len(heads), figsize=(0.35 * T * len(heads) + 2, 0.35 * T + 1.5), squeeze=False)
    top = float(max(att[h].max() for h in heads))           # one colour scale for every panel
    for ax, h in zip(axes[0], heads):
        im = ax.imshow(att[h], cmap="viridis", vmin=0.0, vmax=top)
        ax.set_xticks(range(T), [repr(s)[1:-1] for s in labels], rotation=90, fontsize=7)
        ax.set_yticks(range(T), [repr(s)[1:-1] for s in labels], fontsize=7)
        ax.set_title(f"{type(model).__name__}, layer {layer % len(maps)}, head {h}\n{text[:60]}", fontsize=9)
        ax.set_xlabel("attends to")
    axes[0][0].set_ylabel("token")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.7, label="attention weight (each row sums to 1)")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
