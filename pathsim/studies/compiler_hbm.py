"""The HBM the TPU compiler lets one program use, per chip kind: compile an oversized program for one chip
of each target and read the figure from the compiler's refusal ("exceeds available HBM (15.75G)").

    python -m pathsim.studies.compiler_hbm

The catalog's COMPILER_HBM_GIB (catalog/xla_flags.py) holds what this printed; a compiled step fits when
XLA's per-chip figure is within it.
"""

from __future__ import annotations

import os
import re
import sys

from pathsim.catalog.xla_flags import COMPILER_HBM_GIB
from pathsim.workload.xla.mesh import TPU_TARGETS

_AVAILABLE = re.compile(r"available HBM \(([0-9.]+)G\)")
_SHAPES = {"tpu_v4": "2x2x1", "tpu_v5e": "2x2", "tpu_v5p": "2x2x1", "tpu_v6e": "2x2"}


def available_gib(chip: str) -> float:
    """What the compiler says one program may use on `chip` (GiB: XLA prints binary units)."""
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")  # no TPU metadata server to ask: compiling only
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import topologies
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    prefix, config = TPU_TARGETS[chip]
    desc = topologies.get_topology_desc(platform="tpu", topology_name=f"{prefix}:{_SHAPES[chip]}",
                                        chip_config_name=config, chips_per_host_bounds=(2, 2, 1), num_slices=1)
    mesh = Mesh(np.array(desc.devices[:1]), ("x",))
    big = jax.ShapeDtypeStruct((2**34,), jnp.float32, sharding=NamedSharding(mesh, P()))  # 64 GiB in, 64 out
    try:
        jax.jit(lambda a: jnp.sin(a) + 1).lower(big).compile()
    except Exception as e:  # the refusal is the measurement
        m = _AVAILABLE.search(str(e))
        if m:
            return float(m.group(1))
        raise
    raise RuntimeError(f"a 128 GiB program compiled for {chip}: no HBM figure to read")


def main() -> int:
    print("| chip | compiler's available HBM (GiB) | catalog |")
    print("| --- | --- | --- |")
    for chip in _SHAPES:
        print(f"| {chip} | {available_gib(chip):.2f} | {COMPILER_HBM_GIB[chip]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
