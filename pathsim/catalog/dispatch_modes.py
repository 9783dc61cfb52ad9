"""Dispatch modes: the one set of names, for the dispatch benchmark and the training step alike
(docs/pathways.md). Multi-controller JAX: every host runs the program and dispatches its own shard.
Pathways: one client, one gang scheduler per island, host executors (Barham et al. 2022, section 4.5)."""

from __future__ import annotations

from typing import Literal, get_args

DispatchMode = Literal["jax_opbyop", "jax_fused", "pathways_opbyop", "pathways_opbyop_sequential",
                       "pathways_chained", "pathways_fused"]
DISPATCH_MODES: tuple[DispatchMode, ...] = get_args(DispatchMode)
DISPATCH_MODE_MEANINGS: dict[DispatchMode, str] = {
    "jax_opbyop": "multi-controller: every host pays python_call_s + host_enqueue_s per computation, no message",
    "jax_fused": "multi-controller, the chain compiled into one computation",
    "pathways_opbyop": "parallel asynchronous dispatch: one client call (a future) per computation, each "
                       "island's gang scheduler fans it out to every host",
    "pathways_opbyop_sequential": "sequential dispatch: a computation's host-side work waits until every host "
                                  "acknowledged enqueuing the previous one",
    "pathways_chained": "one client call for the chain: one message per host holding every computation",
    "pathways_fused": "one computation holding the chain",
}
# A training step's computations (train, transfer, update) are separate programs: the fused modes, which
# compile a chain into one, do not apply to it.
STEP_DISPATCH_MODES: tuple[DispatchMode, ...] = ("pathways_opbyop", "pathways_opbyop_sequential",
                                                 "pathways_chained", "jax_opbyop")
# Earlier spellings of the training step's modes, still read from experiment files.
DISPATCH_ALIASES: dict[str, DispatchMode] = {"pathways_async": "pathways_opbyop",
                                             "pathways_sequential": "pathways_opbyop_sequential",
                                             "multi_controller": "jax_opbyop"}
