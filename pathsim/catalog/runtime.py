"""Runtime latencies: documented assumptions, not published figures, and never fitted to a result.

They are the order of magnitude of a datacenter RPC and of host-side work to launch a compiled program;
`pathsim run` reports the dispatch time they produce, and experiments can override them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeLatencies:
    # One message between hosts over the DCN (client -> scheduler -> executor): a datacenter RPC.
    dcn_message_s: float = 100e-6
    # Host-side work to enqueue one compiled computation on the local devices.
    host_enqueue_s: float = 20e-6
    # Controller-side work per computation per island (allocation, scheduling, coordination).
    controller_work_s: float = 50e-6
    # --- Pathways control plane (pathsim.engine.runtime); chosen before any comparison with the paper ---
    # CPU time one process spends to send or to receive one small RPC (serialize, syscall, completion
    # queue): the order of a gRPC small-message cost, tens of microseconds. It is what makes a single
    # controller's fan-out to H hosts cost O(H) per dispatched unit.
    rpc_cpu_s: float = 20e-6
    # Python-side cost of one JAX-style call (argument flattening, cache lookup, hand-off to C++): JAX
    # documents its per-call dispatch overhead as tens of microseconds. Paid by every multi-controller
    # host per call, and by the Pathways client per call.
    python_call_s: float = 30e-6
    # Device-side fixed cost of running one already-enqueued compiled program (launch, a scalar op):
    # a few microseconds, the order of an accelerator kernel launch.
    device_program_s: float = 5e-6
    # How far ahead of the devices a gang scheduler commits work: the Pathways paper (Barham et al., 2022)
    # says the scheduler implements policy "at a millisecond time scale".
    scheduler_lookahead_s: float = 1e-3


RUNTIME = RuntimeLatencies()


# --- Dispatch modes: the one set of names, for the dispatch benchmark and the training step alike
# (docs/pathways.md). Multi-controller JAX: every host runs the program and dispatches its own shard.
# Pathways: one client, one gang scheduler per island, host executors (Barham et al. 2022, section 4.5).
DISPATCH_MODES: dict[str, str] = {
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
STEP_DISPATCH_MODES: tuple[str, ...] = ("pathways_opbyop", "pathways_opbyop_sequential", "pathways_chained",
                                        "jax_opbyop")
# Earlier spellings of the training step's modes, still read from experiment files.
DISPATCH_ALIASES: dict[str, str] = {"pathways_async": "pathways_opbyop",
                                    "pathways_sequential": "pathways_opbyop_sequential",
                                    "multi_controller": "jax_opbyop"}
