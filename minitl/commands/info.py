"""``minitl info``: what this machine is to minitl -- versions, SIMD width and tiles, threads, cache, models."""


def register(subparsers, pretrain_subparsers):
    p = subparsers.add_parser("info", help="versions, the kernels' view of this CPU, the cache and its models")
    p.set_defaults(func=info)


def info(args):
    import os
    import numba
    import numpy as np
    import minitl
    from minitl import hub
    from minitl.data.registry import cache_root
    from minitl.kernels import machine_info
    print(f"minitl {minitl.__version__}, numpy {np.__version__}, numba {numba.__version__} "
          f"({numba.config.THREADING_LAYER} threading layer, {numba.config.NUMBA_NUM_THREADS} threads), "
          f"{os.cpu_count()} CPUs")
    for k, v in machine_info().items():
        print(f"  {k:<22} {v}")
    print(f"cache: {cache_root()}")
    for name in hub.NAMES:
        card = hub.card(name)
        if card is None:
            print(f"  {name:<5} not built (`minitl pretrain all` builds it)")
        else:
            what = f"{card['steps']} steps" if "steps" in card else f"{card['recipe'].get('epochs')} epochs"
            print(f"  {name:<5} {what}, built {card['built']} in {card['seconds']:.0f} s on {card.get('cpu')}")
    return 0
