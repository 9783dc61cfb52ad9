"""Programs spanning islands over the DCN: a pipeline with stages on different islands, and data
parallelism across islands, each against one island with as many chips."""

from __future__ import annotations

import math

import pandas as pd

from pathsim.engine.runtime import ResourceManager, run_data_parallel, run_pipeline
from pathsim.engine.runtime.specs import DataParallelSpec, PipelineSpec
from pathsim.errors import ConfigError
from pathsim.studies.pathways.config import DataParallelSweep, Layout, MultiIslandConfig, PipelineSweep
from pathsim.studies.pathways.costs import (collective_s, dcn_allreduce_bytes_per_host, dense_flops_per_token,
                                    island)


def _stage_islands(layout: Layout, stages: int, field: str) -> tuple[int, ...]:
    if layout.stage_islands is None:
        n = len(layout.islands)
        if stages % n:
            raise ConfigError(f"{field}.stage_islands", f"{stages} stages do not split evenly over {n} "
                                                        "islands; list the island of each stage")
        return tuple(s * n // stages for s in range(stages))
    if len(layout.stage_islands) != stages:
        raise ConfigError(f"{field}.stage_islands", f"lists {len(layout.stage_islands)} stages, the "
                                                    f"pipeline has {stages}")
    return tuple(layout.stage_islands)


def pipeline_rows(cfg: MultiIslandConfig, sweep: PipelineSweep) -> list[dict]:
    chip, lat = cfg.chip_spec(), cfg.latencies()
    model = sweep.model
    stage_chips = math.prod(sweep.stage_slice)
    tokens = sweep.microbatch_seqs * model.seq_len
    rate = stage_chips * chip.peak_bf16_flops_per_s * model.mfu
    forward_s = dense_flops_per_token(model.params) / sweep.stages * tokens / rate
    rows = []
    for k, layout in enumerate(sweep.layouts):
        field = f"pipeline.layouts.{k}"
        for j, shape in enumerate(layout.islands):
            island(tuple(shape), chip, f"{field}.islands.{j}")
        stage_islands = _stage_islands(layout, sweep.stages, field)
        rm = ResourceManager(tuple(tuple(s) for s in layout.islands), chip.chips_per_host)
        slices = [rm.allocate(tuple(sweep.stage_slice), f"{field}.stage_islands.{s}", island=i, exclusive=True)
                  for s, i in enumerate(stage_islands)]
        spec = PipelineSpec(
            stage_islands=stage_islands, hosts_per_stage=len(slices[0].hosts), microbatches=sweep.microbatches,
            schedule=sweep.schedule, forward_s=forward_s, backward_s=2 * forward_s,
            activation_bytes=tokens * model.d_model * 2.0,  # bf16 activations at the stage boundary
            # Each chip of a stage sends its shard to its counterpart in the next stage over one link.
            ici_bytes_per_s=stage_chips * chip.ici_link_bytes_per_s, ici_latency_s=chip.ici_hop_latency_s,
            dcn_bytes_per_s_per_host=chip.dcn_bytes_per_s_per_host, latencies=lat)
        res = run_pipeline(spec)
        rows.append({"section": "pipeline", "layout": layout.name, "islands": len(layout.islands),
                     "chips": sum(math.prod(s) for s in layout.islands), "stages": sweep.stages,
                     "microbatches": sweep.microbatches, "schedule": sweep.schedule, "forward_s": forward_s,
                     "step_s": res.step_s, "dcn_bytes": res.dcn_bytes, "dcn_busy_s": res.dcn_busy_s})
    base = rows[0]["step_s"]
    for row in rows:
        row["relative_throughput"] = base / row["step_s"]
    return rows


def data_parallel_rows(cfg: MultiIslandConfig, sweep: DataParallelSweep) -> list[dict]:
    chip, lat = cfg.chip_spec(), cfg.latencies()
    model = sweep.model
    grad = model.params * sweep.grad_bytes
    total_flops = 3 * dense_flops_per_token(model.params) * sweep.global_batch_seqs * model.seq_len
    rows = []
    for name, shape, n, field in (("one_island", sweep.one_island, 1, "data_parallel.one_island"),
                                  (f"{sweep.islands}_islands", sweep.island, sweep.islands, "data_parallel.island")):
        isl = island(tuple(shape), chip, field)
        rows.append(_dp_row(name, isl, n, total_flops, grad, model.mfu, chip, lat))
    if rows[0]["chips"] != rows[1]["chips"]:
        raise ConfigError("data_parallel.one_island", f"has {rows[0]['chips']} chips, the islands together "
                                                      f"{rows[1]['chips']}: compare equal chip counts")
    for row in rows:
        row["relative_throughput"] = rows[0]["step_s"] / row["step_s"]
    return rows


def _dp_row(name, isl, n, total_flops, grad, mfu, chip, lat) -> dict:
    chips = isl.chips * n
    spec = DataParallelSpec(
        islands=n, hosts_per_island=math.ceil(isl.chips / chip.chips_per_host),
        compute_s=total_flops / (chips * chip.peak_bf16_flops_per_s * mfu),
        ici_reduce_scatter_s=collective_s("reduce_scatter", grad, isl, chip),
        ici_all_gather_s=collective_s("all_gather", grad, isl, chip),
        dcn_bytes_per_host=dcn_allreduce_bytes_per_host(grad, isl.chips, n, chip) if n > 1 else 0.0,
        dcn_bytes_per_s_per_host=chip.dcn_bytes_per_s_per_host, latencies=lat)
    res = run_data_parallel(spec)
    return {"section": "data_parallel", "layout": name, "islands": n, "chips": chips,
            "slice": "x".join(map(str, isl.shape)), "compute_s": spec.compute_s,
            "ici_s": spec.ici_reduce_scatter_s + spec.ici_all_gather_s, "dcn_busy_s": res.dcn_s,
            "step_s": res.step_s}


def run(cfg: MultiIslandConfig) -> pd.DataFrame:
    rows = []
    if cfg.pipeline is not None:
        rows += pipeline_rows(cfg, cfg.pipeline)
    if cfg.data_parallel is not None:
        rows += data_parallel_rows(cfg, cfg.data_parallel)
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> str:
    lines = []
    for _, row in df.iterrows():
        extra = f", DCN busy {row.dcn_busy_s * 1e3:.1f} ms" if row.dcn_busy_s == row.dcn_busy_s else ""
        lines.append(f"{row.section} {row.layout} ({row.islands} island(s), {row.chips} chips): step "
                     f"{row.step_s * 1e3:.1f} ms, throughput {row.relative_throughput:.1%} of the first layout"
                     f"{extra}")
    return "\n".join(lines)
