"""PyTorch's side of ``bench_kernels.py``'s attention race, in a process of its own.

    python benchmarks/_torch_peer.py sdpa INPUTS.npz

Started by ``_common.PeerProcess``: it never imports minitl, so PyTorch runs with its own process
settings (``minitl/_process.py`` says why that matters), except minitl's malloc setting, which it
gets as the train-step benchmark's PyTorch process does (``_common.peer_malloc``).  It loads q, k, v and
d(out) (B, H, T, D) from the .npz, prints {"ready": true}, then answers every request line
{"threads": n, "clock": "wall" | "cpu"} with {"seconds": ...} of one causal
``scaled_dot_product_attention`` forward + backward on n threads.
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import peer_malloc  # noqa: E402


def sdpa(path):
    import torch
    with np.load(path) as z:
        tq, tk, tv = (torch.tensor(z[n], requires_grad=True) for n in ("q", "k", "v"))
        tdo = torch.tensor(z["do"])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        torch.set_num_threads(req["threads"])
        clock = time.process_time if req["clock"] == "cpu" else time.perf_counter
        t0 = clock()
        for t in (tq, tk, tv):
            t.grad = None
        o = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
        o.backward(tdo)
        print(json.dumps({"seconds": clock() - t0}), flush=True)


if __name__ == "__main__":
    peer_malloc()
    {"sdpa": sdpa}[sys.argv[1]](*sys.argv[2:])
