"""Collective bytes of small compiled programs on each TPU kind, worked out by hand from the shapes.

The program: a scan over L layers, h = tanh(h @ W_l) @ W_l^T, with W [L, D, F] split on D over the mesh
and the batch of x [B, D] split over it too; its gradient with respect to W, the loss, and h gathered
whole. Per layer W is V = D * F * 2 bytes (bf16). What XLA emits on every target below:
- inside the layer loop, forward: one all-gather of W_l; backward: two (W_l in each layout its two
  backward matmuls read, [D, F] and [F, D]) and one all-reduce of its gradient (V, bf16);
- outside the loop, forward: h gathered whole (B * D * 2 bytes); the loss is then summed on each chip.
A collective over both axes of a (fsdp f, tensor t) mesh is a chain (hlo_import): all-gather of V ->
tensor (inner) V / f, fsdp V; all-reduce of V -> reduce-scatter tensor V, all-reduce fsdp V / t,
all-gather tensor V. v5e compiles the per-layer gathers as async collective fusions (start,
continuations, done), each holding a copy of the collective: counting those copies read 36x too many
bytes in the backward pass here (225x on the 16B model of V5E-MT-16B-1).
"""

from __future__ import annotations

import pytest

from pathsim.mesh.axis import MeshAxis
from pathsim.workload.program import CommOp
from pathsim.workload.xla.hlo_import import MeshAxes, import_hlo
from tests.workload.xla.conftest import NEEDS_TPU_COMPILER

FSDP, TENSOR = MeshAxis("ici", "fsdp"), MeshAxis("ici", "tensor")
L, B, D, F = 4, 512, 256, 1024
V = D * F * 2  # one layer's W in bf16: 524,288 bytes
H = B * D * 2  # h gathered whole (bf16)


def _compile(target: str, chip_config: str, axes: tuple[tuple[MeshAxis, int], ...]) -> str:
    import jax
    import jax.numpy as jnp
    from jax.experimental import mesh_utils, topologies
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    desc = topologies.get_topology_desc(platform="tpu", topology_name=target, chip_config_name=chip_config,
                                        chips_per_host_bounds=(2, 2, 1), num_slices=1)
    names = tuple(str(a) for a, _ in axes)
    mesh = Mesh(mesh_utils.create_device_mesh([n for _, n in axes], desc.devices), names)
    whole = NamedSharding(mesh, P())

    def loss(w, x):
        def layer(h, wl):
            return jnp.tanh(h @ wl) @ wl.T, None

        h, _ = jax.lax.scan(layer, x, w)
        return jnp.sum(h.astype(jnp.float32)), jax.lax.with_sharding_constraint(h, whole)

    x = jax.ShapeDtypeStruct((B, D), jnp.bfloat16, sharding=NamedSharding(mesh, P(names, None)))
    w = jax.ShapeDtypeStruct((L, D, F), jnp.bfloat16, sharding=NamedSharding(mesh, P(None, names, None)))
    step = jax.value_and_grad(loss, has_aux=True)
    return jax.jit(step).lower(w, x).compile().as_text()


def _bytes(hlo: str, axes) -> dict[tuple[str, MeshAxis, str], float]:
    out: dict[tuple[str, MeshAxis, str], float] = {}
    for op in import_hlo(hlo, MeshAxes(axes)).groups[0].ops:
        if isinstance(op, CommOp):
            key = (op.collective, op.axis, op.phase)
            out[key] = out.get(key, 0.0) + op.bytes
    return out


@NEEDS_TPU_COMPILER
@pytest.mark.parametrize("target, chip_config, n", [
    ("v5e:4x4", "default", 16),  # 2D torus
    ("v6e:4x4", "default", 16),  # 2D torus
    ("v5p:2x2x2", "megacore", 8),  # 3D torus
])
def test_one_axis_gathers_weights_per_layer_and_reduces_their_gradients(target, chip_config, n):
    axes = ((FSDP, n),)
    got = _bytes(_compile(target, chip_config, axes), axes)
    assert got == {
        ("all_gather", FSDP, "forward"): L * V + H,
        ("all_gather", FSDP, "backward"): 2 * L * V,
        ("all_reduce", FSDP, "backward"): L * V,
    }


@NEEDS_TPU_COMPILER
@pytest.mark.parametrize("target, chip_config, f, t", [
    ("v5e:4x4", "default", 4, 4),
    ("v6e:4x4", "default", 4, 4),
    ("v5p:2x2x2", "megacore", 2, 4),
])
def test_a_collective_over_two_axes_splits_its_bytes_along_the_chain(target, chip_config, f, t):
    axes = ((FSDP, f), (TENSOR, t))
    got = _bytes(_compile(target, chip_config, axes), axes)
    assert got == {
        ("all_gather", FSDP, "forward"): L * V + H,
        ("all_gather", TENSOR, "forward"): (L * V + H) / f,
        ("all_gather", FSDP, "backward"): 2 * L * V,
        ("all_gather", TENSOR, "backward"): 2 * L * V / f + L * V,
        ("reduce_scatter", TENSOR, "backward"): L * V,
        ("all_reduce", FSDP, "backward"): L * V / t,
    }
