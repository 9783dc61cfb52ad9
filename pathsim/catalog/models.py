"""The model library: published architectures an experiment names (`model: palm540b`, or
`model: {base: palm540b, n_layers: 4}`). Plain data: each entry is ModelConfig's fields plus `source`, the
publication the figures come from. `pathsim.config.experiment` resolves a name before validation, so every
consumer sees a full ModelConfig.

`attention` is the kernel the source trained with: PaLM and GPT-3 predate fused attention kernels and
materialised the [T, T] scores (`dot`); Llama 2 and 3 (FlashAttention-2 in their training code), Gemma and
Mistral (trained with fused blockwise attention kernels, as today's JAX and PyTorch stacks do) use `flash`.

Only what changes FLOPs, bytes or the schedule is recorded. Not modelled, and noted where it applies:
biases, learned position embeddings, sparse or sliding-window attention.
"""

from __future__ import annotations

from typing import Any

# PaLM, section 2: d_ff = 4 d_model, head dim 256, multi-query attention, SwiGLU, parallel blocks, shared
# input and output embeddings, a 256k SentencePiece vocabulary, 2048-token sequences.
_PALM = dict(n_kv_heads=1, head_dim=256, vocab_size=256000, seq_len=2048, block="parallel", mlp="swiglu",
             tied_embeddings=True, attention="dot", source="PaLM (Chowdhery et al. 2022), Table 1 and section 2")
# LLaMA's block: pre-norm serial block, SwiGLU, a separate output table.
_LLAMA = dict(block="serial", mlp="swiglu", tied_embeddings=False, attention="flash")
# Llama 2: 32k vocabulary, 4096-token context, grouped-query attention (8 kv heads) on 70B only; widths
# from the released params.json.
_LLAMA2 = dict(_LLAMA, vocab_size=32000, seq_len=4096,
               source="Llama 2 (Touvron et al. 2023), Table 1 and section 2.2; released params.json")
# Llama 3: 8 kv heads, 8192-token pre-training sequences; the released tokenizer has 128256 entries (the
# table rounds to 128K).
_LLAMA3 = dict(_LLAMA, n_kv_heads=8, vocab_size=128256, seq_len=8192,
               source="The Llama 3 Herd of Models (Llama Team 2024), Table 3")

MODELS: dict[str, dict[str, Any]] = {
    "palm8b": dict(_PALM, n_layers=32, d_model=4096, n_heads=16, d_ff=16384),
    "palm62b": dict(_PALM, n_layers=64, d_model=8192, n_heads=32, d_ff=32768),
    "palm540b": dict(_PALM, n_layers=118, d_model=18432, n_heads=48, d_ff=73728),
    "llama2_7b": dict(_LLAMA2, n_layers=32, d_model=4096, n_heads=32, d_ff=11008),
    "llama2_13b": dict(_LLAMA2, n_layers=40, d_model=5120, n_heads=40, d_ff=13824),
    "llama2_70b": dict(_LLAMA2, n_layers=80, d_model=8192, n_heads=64, n_kv_heads=8, d_ff=28672),
    "llama3_8b": dict(_LLAMA3, n_layers=32, d_model=4096, n_heads=32, d_ff=14336),
    "llama3_70b": dict(_LLAMA3, n_layers=80, d_model=8192, n_heads=64, d_ff=28672),
    # d_ff = 4 d_model, GPT-2's 50257-entry BPE vocabulary and tied embeddings; the alternating locally
    # banded sparse attention layers are modelled as dense.
    "gpt3_175b": dict(n_layers=96, d_model=12288, n_heads=96, head_dim=128, d_ff=49152, vocab_size=50257,
                      seq_len=2048, block="serial", mlp="gelu", tied_embeddings=True, attention="dot",
                      source="GPT-3 (Brown et al. 2020), Table 2.1 and section 2.1"),
    # GPT-3 2.7B, the same architecture at 32 layers: the Pathways paper's "3B" decoder-only pipelined
    # model names no architecture, and this is the published dense decoder of that size (d_model 2560).
    "gpt3_2.7b": dict(n_layers=32, d_model=2560, n_heads=32, head_dim=80, d_ff=10240, vocab_size=50257,
                      seq_len=2048, block="serial", mlp="gelu", tied_embeddings=True, attention="dot",
                      source="GPT-3 (Brown et al. 2020), Table 2.1 and section 2.1"),
    # The table's "feedforward hidden dims 49152" is gate + up, 24576 each. GeGLU is a gated MLP of three
    # matrices, the FLOPs and weights of SwiGLU, so it is recorded as swiglu.
    "gemma_7b": dict(n_layers=28, d_model=3072, n_heads=16, n_kv_heads=16, head_dim=256, d_ff=24576,
                     vocab_size=256128, seq_len=8192, block="serial", mlp="swiglu", tied_embeddings=True, attention="flash",
                     source="Gemma (Gemma Team 2024), Table 1"),
    # The 4096-token sliding attention window is modelled as full attention over the 8192-token context.
    "mistral_7b": dict(_LLAMA, n_layers=32, d_model=4096, n_heads=32, n_kv_heads=8, head_dim=128, d_ff=14336,
                       vocab_size=32000, seq_len=8192, source="Mistral 7B (Jiang et al. 2023), Table 1"),
}
for _name, _entry in MODELS.items():
    _entry["name"] = _name  # the report's label is the library name


def architecture(name: str) -> dict[str, Any]:
    """The entry's ModelConfig fields (all but its source). KeyError for an unknown name."""
    return {k: v for k, v in MODELS[name].items() if k != "source"}
