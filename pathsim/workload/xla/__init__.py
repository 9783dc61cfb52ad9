"""JAX step --compile (XLA, ahead of time for a TPU topology)--> HLO --import--> Program.

`hlo_import.import_hlo` needs no JAX: it reads HLO text. The compile path (step, mesh, compile, cache)
imports jax and libtpu only when used (the `tpu` extra).
"""
