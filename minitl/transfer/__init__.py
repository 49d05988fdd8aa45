"""Transfer learning on any Module tree: probes (frozen features + a linear
head) now; freezing strategies and the fine-tuning experiments build on them."""
