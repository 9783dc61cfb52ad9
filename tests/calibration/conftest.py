"""A small hand-made cost profile: two f32 matmul shapes, one bf16, memory-bound rows and collectives."""

from __future__ import annotations

import pytest

from pathsim.costs.calibrated.profile import CollectivePoint, CostProfile, CostProfileMeta, MatmulPoint, MemoryPoint


def make_profile(**meta_overrides) -> CostProfile:
    meta = dict(backend="cpu", device_kind="testcpu", device_count=4, jax_version="0.0", date="2025-01-01T00:00:00",
                warmup=1, repeats=3, call_overhead_s=1e-5, concurrent_slowdown=2.0, memory_bytes=8e9,
                host_load_1min=0.5)
    meta.update(meta_overrides)
    return CostProfile(
        meta=CostProfileMeta(**meta),
        matmuls=(
            # 2*64^3 = 524288 FLOPs in 1e-5 s; 2*256^3 = 33554432 FLOPs in 1e-4 s
            MatmulPoint("matmul", "float32", 64, 64, 64, 1, 1e-5),
            MatmulPoint("matmul", "float32", 256, 256, 256, 1, 1e-4),
            MatmulPoint("matmul", "bfloat16", 64, 64, 64, 1, 4e-5),
            MatmulPoint("matmul", "bfloat16", 256, 256, 256, 1, 4e-4),
        ),
        memory_ops=(MemoryPoint("norm", 1e3, 1e-6), MemoryPoint("norm", 1e5, 1e-5)),
        collectives=(CollectivePoint("all_gather", 4, 4096.0, 2e-5), CollectivePoint("all_gather", 4, 4e6, 1e-3),
                     CollectivePoint("all_reduce", 2, 4096.0, 3e-5)),
    )


@pytest.fixture
def profile() -> CostProfile:
    return make_profile()
