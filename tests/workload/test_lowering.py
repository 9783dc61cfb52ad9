import pytest

from tests.support import small_experiment
from pathsim.config.experiment import parse_experiment
from pathsim.errors import ConfigError
from pathsim.mesh.plan import stage_layers
from pathsim.pipeline import lowered_program as lower
from pathsim.workload.lowering.schedule import gpipe, one_f_one_b
from pathsim.workload.model import hardware_flops_per_token, model_flops_per_token
from pathsim.mesh.axis import HOST_LINK, ICI_PIPELINE, MeshAxis
from pathsim.workload.program import CommOp, ComputeOp


def executed_flops_per_token(exp_dict) -> float:
    exp = parse_experiment(exp_dict)
    program = lower(exp)
    chips = 64 // exp.plan.degree("pipeline") if exp.plan.degree("pipeline") > 1 else 64
    flops = sum(op.flops for g in program.groups for op in g.ops if isinstance(op, ComputeOp))
    tokens = exp.training.global_batch_seqs * exp.model.seq_len
    return flops * chips / tokens


@pytest.mark.parametrize("plan", [
    {"ici": {"tensor": 4, "fsdp": 16}},
    {"ici": {"tensor": 8, "data": 8}, "tensor_style": "megatron"},
    {"ici": {"fsdp": 64}},
])
def test_executed_flops_match_palm_formula(plan):
    """Summing every matmul of every chip gives 6N + 12LHQT per token: with tied embeddings the table's
    6 V d are the logits' forward and backward matmuls (norm parameters, 0.02% of N, run no matmul)."""
    d = small_experiment(plan=plan)
    exp = parse_experiment(d)
    assert executed_flops_per_token(d) == pytest.approx(model_flops_per_token(exp.model), rel=5e-4)


@pytest.mark.parametrize("remat", ["full", "palm"])
def test_remat_adds_recomputed_forward(remat):
    d = small_experiment(**{"training.remat": remat})
    exp = parse_experiment(d)
    base = executed_flops_per_token(small_experiment())
    extra = hardware_flops_per_token(exp.model, remat) - model_flops_per_token(exp.model)
    # The loss head is not recomputed by pathsim: its forward share (2 V d) is the only difference.
    head = 2 * exp.model.vocab_size * exp.model.d_model * {"full": 1.0, "palm": 0.75}[remat]
    assert executed_flops_per_token(d) - base == pytest.approx(extra - head, rel=1e-3)


def test_pipeline_splits_layers_and_sends():
    d = small_experiment(plan={"ici": {"pipeline": 2, "tensor": 4, "fsdp": 8}, "microbatches": 4})
    program = lower(parse_experiment(d))
    assert len(program.groups) == 2
    sends = [op for op in program.groups[0].ops if isinstance(op, CommOp) and op.collective == "send"]
    assert len(sends) == 4  # one activation per micro-batch forward to stage 1
    assert [len(stage_layers(4, 2, s)) for s in range(2)] == [2, 2]
    assert [len(stage_layers(5, 2, s)) for s in range(2)] == [3, 2]


def test_a_pipeline_spans_islands_with_consecutive_stages_on_each():
    # 2 islands x 2 stages per island: stage = dcn coordinate x 2 + ici coordinate; the boundary between the
    # islands (stage 1 -> 2) is crossed over the DCN, the others over ICI.
    d = small_experiment(plan={"ici": {"pipeline": 2, "tensor": 4, "fsdp": 8}, "dcn": {"pipeline": 2},
                               "microbatches": 4})
    d["model"]["n_layers"] = 8
    program = lower(parse_experiment(d))
    assert [g.name for g in program.groups] == ["pipeline0", "pipeline1", "pipeline2", "pipeline3"]
    assert [dict(g.coords) for g in program.groups][2] == {MeshAxis("dcn", "pipeline"): 1, ICI_PIPELINE: 0}

    def sends(g):
        return {(op.name.split(".")[0], str(op.axis), op.peer_group) for op in program.groups[g].ops
                if isinstance(op, CommOp) and op.collective == "send"}

    assert sends(0) == {("fwd", "ici.pipeline", 1)}
    assert sends(1) == {("fwd", "dcn.pipeline", 2), ("bwd", "ici.pipeline", 0)}
    assert sends(2) == {("fwd", "ici.pipeline", 3), ("bwd", "dcn.pipeline", 1)}
    assert sends(3) == {("bwd", "ici.pipeline", 2)}
    # Every stage holds its share of the layers: 8 layers over 4 stages.
    names = [{op.name.split(".")[0] for op in g.ops if op.name.startswith("L")} for g in program.groups]
    assert names == [{"L0", "L1"}, {"L2", "L3"}, {"L4", "L5"}, {"L6", "L7"}]


def test_schedules():
    assert gpipe(2) == [("F", 0), ("F", 1), ("B", 1), ("B", 0)]
    assert one_f_one_b(0, 2, 3) == [("F", 0), ("F", 1), ("B", 0), ("F", 2), ("B", 1), ("B", 2)]
    assert one_f_one_b(1, 2, 2) == [("F", 0), ("B", 0), ("F", 1), ("B", 1)]


@pytest.mark.parametrize("override,field,says", [
    # A published model's shape is given; the tensor degree is the plan's choice: the error names the plan.
    ({"model.n_heads": 6}, "plan.ici.tensor", "tensor 4 does not divide the model's 6 query heads (model.n_heads); "
                                              "the largest tensor degree up to 4 that does is 3"),
    ({"model.d_ff": 4098}, "plan.ici.tensor", "MLP width (model.d_ff)"),
    ({"training.global_batch_seqs": 24}, "training.global_batch_seqs", "do not split"),
])
def test_indivisible_shapes(override, field, says):
    d = small_experiment(**override)
    if "model.n_heads" in override:
        d["model"]["head_dim"] = 128
    with pytest.raises(ConfigError) as err:
        lower(parse_experiment(d))
    assert err.value.field == field and says in err.value.message


@pytest.mark.parametrize("remat", ["minimal", "save_qkv_proj", "save_dot_except_mlp", "save_out_proj",
                                   "minimal_offloaded"])
@pytest.mark.parametrize("block", ["serial", "parallel"])
def test_per_tensor_policies_recompute_what_the_flop_count_says(remat, block):
    """A per-tensor policy's recompute ops run exactly the FLOPs hardware_flops_per_token adds (the loss
    head is never recomputed under these policies)."""
    d = small_experiment(**{"training.remat": remat, "model.block": block})
    exp = parse_experiment(d)
    base = executed_flops_per_token(small_experiment(**{"model.block": block}))
    extra = hardware_flops_per_token(exp.model, remat) - model_flops_per_token(exp.model)
    assert executed_flops_per_token(d) - base == pytest.approx(extra, rel=1e-9)


def _host_copies(remat: str) -> list[CommOp]:
    program = lower(parse_experiment(small_experiment(**{"training.remat": remat})))
    return [op for g in program.groups for op in g.ops if isinstance(op, CommOp) and op.axis == HOST_LINK]


def test_offloading_copies_out_in_the_forward_and_back_before_the_backward():
    assert _host_copies("save_qkv_proj") == [] and _host_copies("palm") == []
    copies = _host_copies("qkv_proj_offloaded")
    out = [c for c in copies if c.collective == "device_to_host"]
    back = [c for c in copies if c.collective == "host_to_device"]
    assert len(out) == len(back) == 4  # one per layer's attention sub-block (4 layers, one micro-batch)
    assert {c.phase for c in out} == {"forward"} and {c.phase for c in back} == {"backward"}
    per_layer = 512 * 4 * 3 * 2 * 128 * 2  # tokens x (q, k, v) x heads per chip x head_dim x 2 B
    assert all(c.bytes == per_layer for c in copies)


def test_offloading_costs_time_only_when_the_host_link_is_the_bottleneck():
    from pathsim.api import simulate_config
    from pathsim.config.experiment import parse_topology, read_yaml

    def metrics(remat: str, host_link: float | None = None):
        exp = parse_experiment(small_experiment(**{"training.remat": remat}))
        topo = read_yaml(__import__("pathlib").Path(exp.topology), "topology")
        if host_link is not None:
            topo = {**topo, "overrides": {"host_link_bytes_per_s": host_link}}
        return simulate_config(exp, parse_topology(topo)).metrics

    kept = metrics("save_qkv_proj").step_time_s
    assert metrics("qkv_proj_offloaded").step_time_s == pytest.approx(kept, rel=1e-3)  # 1.6e10 B/s: hidden
    slow = metrics("qkv_proj_offloaded", host_link=1e8)  # 100 MB/s: the copies set the pace
    assert slow.step_time_s > 2 * kept
    assert slow.breakdown.exposed_host_s > 0.5 * slow.step_time_s and "exposed_host_s" in slow.breakdown.as_dict()
    assert "exposed_host_s" not in metrics("palm").breakdown.as_dict()


def test_a_serial_blocks_mlp_backward_fetches_the_layer_input_and_attention_output_first():
    """The MLP's backward runs first and rebuilds its input (x + out_proj): both come back before it."""
    d = small_experiment(**{"training.remat": "custom",
                            "training.remat_custom": {"decoder_layer_input": "offload", "out_proj": "offload",
                                                      "query_proj": "offload"}})
    ops = lower(parse_experiment(d)).groups[0].ops
    copies = {op.name: op.bytes for op in ops if isinstance(op, CommOp) and op.axis == HOST_LINK}
    x = o = 512 * 4 * 256 * 2  # tokens x d_model / tensor 4 x 2 B (2D sharding)
    q = 512 * 4 * 2 * 128 * 2  # tokens x heads per chip x head_dim x 2 B
    assert copies["L0.mb0.attn.offload"] == x + q + o and "L0.mb0.mlp.offload" not in copies
    assert copies["L0.mb0.mlp.fetch"] == x + o and copies["L0.mb0.attn.fetch"] == q


def test_gradient_accumulation_reduce_scatters_every_micro_batch_without_a_pipeline():
    """With M micro-batches and no pipeline each micro-batch reduce-scatters its gradients over fsdp (the
    accumulator is sharded as the weights, as the compiled step's is): M times the fsdp bytes of one. A
    pipeline accumulates on its stage and reduces once."""
    def fsdp_reduce_bytes(plan):
        program = lower(parse_experiment(small_experiment(plan=plan)))
        return sum(op.bytes for op in program.groups[0].ops  # the layers' (the embedding's are reduced once)
                   if isinstance(op, CommOp) and op.collective == "reduce_scatter" and op.axis.kind == "fsdp"
                   and op.name.startswith("L"))

    one = fsdp_reduce_bytes({"ici": {"tensor": 4, "fsdp": 16}})
    assert one > 0
    assert fsdp_reduce_bytes({"ici": {"tensor": 4, "fsdp": 16}, "microbatches": 2}) == pytest.approx(2 * one)
    piped = {"ici": {"pipeline": 2, "tensor": 4, "fsdp": 8}}
    assert fsdp_reduce_bytes({**piped, "microbatches": 4}) == pytest.approx(fsdp_reduce_bytes(piped))


def _ops_named(d: dict, suffix: str) -> list:
    return [op for op in lower(parse_experiment(d)).groups[0].ops if op.name.endswith(suffix)]


@pytest.mark.parametrize("remat, forward, remat_pass, backward", [
    ("full", 2, 6, None),  # statistics read; the recompute also writes P; dS fused into the dP matmul
    ("none", 12, None, 8),  # statistics read, f32 exponentials and P saved across the scan; read back, dS written
])
def test_dot_attention_softmax_moves_the_bytes_xla_fusions_move(remat, forward, remat_pass, backward):
    """Bytes per [T, T] element of each softmax pass (bf16 activations, f32 exponentials), as the compiled
    corpus's HLO shows them (docs/xla.md, "Rules of the lowering")."""
    from pathsim.pipeline import resolve

    d = small_experiment(**{"training.remat": remat, "model.attention": "dot"})
    s = resolve(parse_experiment(d)).shard
    elements = s.seqs * s.heads_local * s.seq_len * s.seq_len
    assert [op.hbm_bytes / elements for op in _ops_named(d, "L0.mb0.attn.softmax")] == [forward]
    assert [op.hbm_bytes / elements for op in _ops_named(d, "L0.mb0.attn.remat.softmax")] == \
        ([remat_pass] if remat_pass else [])
    assert [op.hbm_bytes / elements for op in _ops_named(d, "L0.mb0.attn.softmax_bwd")] == \
        ([backward] if backward else [])


def test_the_loss_reads_the_logits_twice_and_writes_their_gradient_in_bf16():
    """MaxText's cross entropy as XLA fuses it: no f32 copy of the logits reaches HBM."""
    from pathsim.pipeline import resolve

    d = small_experiment()
    s = resolve(parse_experiment(d)).shard
    (xent,) = _ops_named(d, "mb0.xent")
    assert xent.hbm_bytes == s.tokens * s.vocab_local * (2 + 2 + 2)


def test_a_parallel_blocks_two_projections_are_reduced_over_tensor_one_after_the_other():
    """2D sharding: XLA reduce-scatters the attention's and the MLP's partial sums separately (PaLM 540B
    compiled), forward after the output projections and backward after the input projections' dx."""
    d = small_experiment(**{"model.block": "parallel"})
    fwd = _ops_named(d, "L0.mb0.blk.reduce_scatter_out") + _ops_named(d, "L0.mb0.blk.reduce_scatter_out_mlp")
    bwd = _ops_named(d, "L0.mb0.blk.reduce_scatter_dx") + _ops_named(d, "L0.mb0.blk.reduce_scatter_dx_mlp")
    assert len(fwd) == len(bwd) == 2 and len({op.bytes for op in fwd + bwd}) == 1
    assert fwd[1].deps[-1] == lower(parse_experiment(d)).groups[0].ops.index(fwd[0])  # one after the other
    megatron = small_experiment(**{"model.block": "parallel", "plan.tensor_style": "megatron"})
    assert len(_ops_named(megatron, "L0.mb0.blk.all_reduce_out")) == 1
    assert not _ops_named(megatron, "all_reduce_out_mlp")


def test_each_micro_batch_reduce_scatters_the_embedding_gradients_too():
    """Without a pipeline the accumulator is sharded as the weights: the compiled step reduces the
    embedding's fsdp bytes once per micro-batch, as it does the layers'."""
    d = small_experiment(**{"plan.microbatches": 2, "plan.ici": {"fsdp": 64}, "training.global_batch_seqs": 128})
    names = [op.name for op in lower(parse_experiment(d)).groups[0].ops
             if isinstance(op, CommOp) and op.collective == "reduce_scatter" and op.name.startswith("embed")]
    assert len(names) == 2 and names[0] in ("embed.mb0.rs_grad", "embed.mb1.rs_grad") and names[1] == "embed.rs_grad"


def test_f32_weights_move_over_fsdp_and_the_dcn_in_the_activation_dtype():
    """Weights kept in f32 (MaxText's weight_dtype) are cast to the activation dtype on their shard before
    the matmul, as the compiled step does: fsdp gathers, gradient reduce-scatters and the cross-slice
    all-reduce move 2 bytes per parameter, the same as with bf16 weights."""
    plan = {"ici": {"fsdp": 16, "tensor": 4}, "dcn": {"data": 2}}

    def comm_bytes(**training):
        d = small_experiment(plan=plan, **{f"training.{k}": v for k, v in training.items()})
        ops = lower(parse_experiment(d)).groups[0].ops
        return {c: sum(op.bytes for op in ops if isinstance(op, CommOp) and op.collective == c
                       and op.axis.kind in ("fsdp", "data")) for c in ("all_gather", "reduce_scatter", "all_reduce")}

    bf16 = comm_bytes()
    f32 = comm_bytes(param_bytes=4, grad_bytes=4)
    assert f32 == bf16 and all(bf16.values())
