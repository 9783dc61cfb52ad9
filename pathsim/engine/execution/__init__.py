"""How the engine runs a Program over a Fabric (pathsim.engine.simulate is the entry point):

- plan.py: per group, what is precomputed once (dependency counts, compute segments and their times);
- state.py: per group, the units' mutable state in numpy arrays;
- dependencies.py: counting dependencies off, and the gates the runtime opens;
- compute.py: each unit's in-order compute stream, segment by segment;
- communication.py (gangs.py, waits.py): collectives, sends and receives, as flows on the network;
- dispatch.py: what the Pathways actors see (each group's slice, the ops left per computation);
- recording.py: which units' spans are kept;
- run.py: the parts wired together, the actors dispatching the step, the Timeline.
"""

from pathsim.engine.execution.run import Run

__all__ = ["Run"]
