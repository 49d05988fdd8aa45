"""Lesson 05 -- pretraining objectives: next-token prediction (GPT) and masked tokens (BERT).

Notes' section: "Mục Tiêu Pre-training (LM, MLM)" (pretraining objectives).

Read alongside:
  minitl/models/gpt.py     forward(idx, targets): logits and the mean next-token cross-entropy
  minitl/models/bert.py    forward(idx, mlm_labels=...), fill_mask(), encode_with_masks()
  minitl/nn/functional.py  cross_entropy: -log softmax(logits)[target]
  minitl/pretrain.py       how both were pretrained (what the loss was averaged over)
  minitl/viz/attention.py  attention maps from model.trace()

What you will see:
  1. "The quick brown" -> GPT's distribution over the next token (the top 10);
  2. "The quick [MASK] fox" and "The [MASK] brown [MASK] fox [MASK]" -> BERT's fillers;
  3. the cross-entropy of each objective computed twice -- by hand from the logits
     (-log of the probability of the true token, averaged) and by minitl's loss -- and
     they agree;
  4. why a perfect prediction gives loss 0: -log(1) = 0, shown on logits made more and
     more confident;
  5. the attention maps the two objectives lead to: GPT's causal (nothing to the right),
     BERT's both ways.

Run:  python lessons/05_objectives.py [--smoke|--quick|--full] [--prompt="The quick brown"] [--out DIR]
"""
# %%
import os

import numpy as np

import minitl
import minitl.nn.functional as F
from minitl import hub
from minitl.lesson import parse
from minitl.models.bert import encode_with_masks
from minitl.viz.attention import attention_maps, plot_attention
from minitl.viz.curves import plot_bars, plot_lines

# -----------------------------------------------------------------------------
config = dict(prompt="The quick brown", sentence="The quick brown fox jumps over the lazy dog", word="brown",
              fill1="The quick [MASK] fox", fill2="The [MASK] brown [MASK] fox [MASK]", top_k=10)
# -----------------------------------------------------------------------------
args = parse(config, __doc__)
if args.mode == "smoke":
    hub.set_profile("smoke")
os.makedirs(args.out, exist_ok=True)
gpt, bert = hub.load("gpt", progress=False).eval(), hub.load("bert", progress=False).eval()
tok = gpt.tokenizer


def log_softmax(z):
    z = np.asarray(z, np.float64)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def show(t):
    return repr(t)[1:-1] or "''"


# %% 1. Next-token prediction
print(f"1. Next-token prediction (GPT).  {args.prompt!r} -> p(next token):\n")
ids = tok.encode(args.prompt)
print(f"   the prompt as BPE tokens: {[tok.decode([i]) for i in ids]}")
with minitl.no_grad():
    logits, _ = gpt(np.array([ids]))                             # (1, T, V)
p_next = np.exp(log_softmax(logits.data[0, -1]))                  # (V,)
top = np.argsort(-p_next)[:args.top_k]
print(f"   {'rank':>4}  {'token':<12}{'p':>8}")
for r, j in enumerate(top):
    print(f"   {r + 1:>4}  {show(tok.decode([int(j)])):<12}{p_next[j]:>8.4f}")
print(f"   (sum over all {len(p_next)} tokens: {p_next.sum():.6f} -- a distribution)")
plot_bars([show(tok.decode([int(j)])) for j in top], [p_next[j] for j in top],
          os.path.join(args.out, "05_next_token.png"), xlabel="probability of the next token",
          title=f"GPT: {args.prompt!r} -> next token (top {args.top_k}; one forward pass, no error bars)")

# %% 2. Masked-token prediction
print(f"\n2. Masked-token prediction (BERT).  Each [MASK] gets a distribution over the vocabulary:\n")
for text in (args.fill1, args.fill2):
    out = bert.fill_mask(text, top_k=5)
    out = [out] if text.count("[MASK]") == 1 else out
    print(f"   {text!r}")
    for i, fillers in enumerate(out):
        print(f"     [MASK] {i + 1}: " + ", ".join(f"{show(t)} {p:.3f}" for t, p in fillers))
first = bert.fill_mask(args.fill1, top_k=args.top_k)
plot_bars([show(t) for t, _ in first], [p for _, p in first], os.path.join(args.out, "05_fill_mask.png"),
          xlabel="probability of the filler", title=f"BERT: {args.fill1!r} (top {args.top_k}; no error bars)")
pieces = bert.tokenizer.encode(" " + args.word)
if len(pieces) > 1:
    print(f"   (this tokenizer splits {args.word!r} into {len(pieces)} pieces, so one [MASK] can hold only a piece"
          f" of it:\n   a {bert.config.vocab_size}-token BPE; a bigger vocabulary keeps more common words whole)")
print("   Several masks are predicted at once, each independently of the others' answers:\n"
      "   BERT sees both sides of a gap, GPT only the left side.")

# %% 3. The two losses, by hand and by minitl
print(f"\n3. The cross-entropy of each objective on {args.sentence!r}:\n")
sid = tok.encode(args.sentence)
x, y = np.array([sid[:-1]]), np.array([sid[1:]])                 # predict token t+1 from tokens <= t
with minitl.no_grad():
    logits, loss = gpt(x, y)                                      # (1, T, V), mean over T
lp = log_softmax(logits.data[0])                                  # (T, V)
by_hand = -lp[np.arange(len(sid) - 1), sid[1:]]                   # (T,): -log p(true next token)
print(f"   GPT (next token, {len(by_hand)} predictions):  by hand {by_hand.mean():.5f}   minitl {loss.item():.5f}")

btok = bert.tokenizer
full = encode_with_masks(btok, args.sentence)                     # [CLS] ... [SEP]
start = len(encode_with_masks(btok, args.sentence.split(args.word)[0].rstrip())) - 1
stop = len(encode_with_masks(btok, args.sentence.split(args.word)[0] + args.word)) - 1
masked, labels = np.array([full]), np.full((1, len(full)), -100)
labels[0, start:stop] = masked[0, start:stop]
masked[0, start:stop] = btok.mask_id
print(f"   BERT masks {args.word!r} = tokens {[btok.decode([i]) for i in full[start:stop]]} at positions "
      f"{list(range(start, stop))}")
with minitl.no_grad():
    blogits, bloss = bert(masked, mlm_labels=labels)              # logits of the masked positions only
blp = log_softmax(blogits.data)                                   # (n_masked, V)
b_hand = -blp[np.arange(stop - start), full[start:stop]]
print(f"   BERT (masked tokens, {len(b_hand)} predictions): by hand {b_hand.mean():.5f}   minitl {bloss.item():.5f}")
agree = abs(by_hand.mean() - loss.item()) < 1e-4 and abs(b_hand.mean() - bloss.item()) < 1e-4
print(f"   check: by hand == minitl (within 1e-4) for both objectives: {agree}")
print("   GPT's loss averages over every position (each token is a target); BERT's only over the\n"
      "   ~15% it masked -- per pretraining step BERT learns from fewer predictions.")

# %% 4. Why a perfect prediction gives loss 0
print("\n4. Loss = -log p(true token).  Make the logits more and more confident in the true token:\n")
V = 5
rows = []
for s in (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0):
    z = np.zeros((1, V), np.float32)
    z[0, 2] = s                                                   # the true class is 2
    ce = F.cross_entropy(minitl.tensor(z), np.array([2])).item()
    p = np.exp(log_softmax(z[0]))[2]
    rows.append((s, p, ce))
    print(f"   margin {s:>5.1f}:  p(true) = {p:.8f}   -log p = {abs(np.log(p)):.8f}   minitl {ce:.8f}")
print(f"   margin 0 is a uniform guess: loss ln {V} = {np.log(V):.4f}.  As p(true) -> 1 the loss -> -log 1 = 0;\n"
      "   it can never be negative, so 0 is the floor a perfect model reaches.  On real text the\n"
      "   next token is uncertain, so even a perfect language model keeps a loss above 0.")
print(f"   check: the loss falls towards 0 and stays >= 0: "
      f"{all(a[2] >= b[2] >= 0 for a, b in zip(rows, rows[1:])) and rows[-1][2] < 1e-6}")
plot_lines({"cross-entropy -log p(true)": ([r[0] for r in rows], [r[2] for r in rows])},
           os.path.join(args.out, "05_loss_to_zero.png"), xlabel="logit margin of the true class over the other 4",
           ylabel="loss (nats)", reference=(0.0, "perfect prediction: loss 0"),
           title=f"Cross-entropy of a {V}-way prediction as it grows confident (exact values, no error bars)")
# %% 5. What each objective lets a token see: the attention maps
print(f"\n5. Where each token looks, last layer, on {args.sentence!r} (minitl/viz/attention.py):\n")
ahead = {}                                                        # model -> largest weight on a later token
for name, model in (("GPT", gpt), ("BERT", bert)):
    labels, maps = attention_maps(model, args.sentence)
    att = maps[-1]                                                # (heads, T, T): row i = where token i looks
    future = np.triu(att, k=1).sum(-1).mean()                     # mass on tokens to the right, per row
    ahead[name] = np.triu(att, k=1).max()
    own = np.mean([att[:, i, i] for i in range(len(labels))])
    print(f"   {name:<5} {len(labels)} tokens, {att.shape[0]} heads: attention on tokens to the right "
          f"{100 * future:5.1f}%, on itself {100 * own:5.1f}%, on the first token ({labels[0]!r}) "
          f"{100 * att[:, :, 0].mean():5.1f}%")
    plot_attention(model, args.sentence, layer=-1, path=os.path.join(args.out, f"05_attention_{name.lower()}.png"))
print("   GPT's objective (predict the next token) needs a causal mask: a token that could see its\n"
      "   right neighbour would just copy it, so the upper triangle of its map is empty.  BERT predicts\n"
      "   hidden tokens, so every token may look both ways -- the bidirectional context of section 2.\n"
      "   A head with nothing useful to look at often parks its attention on the first token (a row\n"
      "   must sum to 1): the bright first column in some heads of the plots.")
print(f"   check: GPT puts exactly 0 attention on the future, BERT more than 0: "
      f"{bool(ahead['GPT'] == 0 and ahead['BERT'] > 0)}")
print(f"\n   plots: {args.out}/05_next_token.png, 05_fill_mask.png, 05_loss_to_zero.png, "
      "05_attention_gpt.png, 05_attention_bert.png")
