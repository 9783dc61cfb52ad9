import pytest

from pathsim.config.experiment import ModelConfig
from pathsim.workload.model import hardware_flops_per_token, model_flops_per_token, total_params

# PaLM paper, Table 1 (layers, heads, d_model, d_ff; head dim 256, vocabulary 256k, MQA, SwiGLU).
PALM = {
    "8b": dict(n_layers=32, n_heads=16, d_model=4096, d_ff=16384),
    "62b": dict(n_layers=64, n_heads=32, d_model=8192, d_ff=32768),
    "540b": dict(n_layers=118, n_heads=48, d_model=18432, d_ff=73728),
}


def palm(size: str) -> ModelConfig:
    return ModelConfig(**PALM[size], n_kv_heads=1, head_dim=256, vocab_size=256000, seq_len=2048,
                       block="parallel", mlp="swiglu", tied_embeddings=True)


@pytest.mark.parametrize("size,params_b", [("8b", 8.63), ("62b", 62.50), ("540b", 540.35)])
def test_palm_parameter_counts(size, params_b):
    assert total_params(palm(size)) / 1e9 == pytest.approx(params_b, abs=0.01)


def test_palm_540b_flops_per_token_table_22():
    m = palm("540b")
    assert model_flops_per_token(m) / 1e12 == pytest.approx(3.28, abs=0.005)
    assert hardware_flops_per_token(m, "palm") / 1e12 == pytest.approx(4.10, abs=0.005)


def test_formula_rederived():
    # 6N + 12 L H Q T, written out independently of pathsim.workload.model.
    m = palm("8b")
    n = total_params(m)
    expected = 6 * n + 12 * 32 * 16 * 256 * 2048
    assert model_flops_per_token(m) == pytest.approx(expected)
    # Full remat recomputes the whole forward: 8N + 16 LHQT, the scaling book's "about 8 x params".
    assert hardware_flops_per_token(m, "full") == pytest.approx(8 * n + 16 * 32 * 16 * 256 * 2048)
    assert hardware_flops_per_token(m, "none") == model_flops_per_token(m)


def test_head_dim_independent_of_d_model():
    m = palm("540b")
    assert m.n_heads * m.q_head_dim == 12288 != m.d_model


def test_multi_query_kv_is_small():
    mqa = palm("8b")
    mha = mqa.model_copy(update={"n_kv_heads": None})
    assert total_params(mha) - total_params(mqa) == 32 * 2 * 4096 * 256 * 15
