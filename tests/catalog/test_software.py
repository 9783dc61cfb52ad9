"""The catalog's autodiff residuals, measured again on the compiled step's own ops with JAX."""

import pytest

from pathsim.catalog.software import AUTODIFF, activation_residual_bytes

jax = pytest.importorskip("jax")
jnp = jax.numpy

B, S, D, F = 2, 16, 64, 128


def _residuals(f, *args) -> list:
    from jax._src.ad_checkpoint import saved_residuals

    return [aval for aval, _ in saved_residuals(f, *args) if aval.shape]  # scalars are literals


def _count(avals, shape, dtype) -> int:
    return sum(1 for a in avals if a.shape == shape and a.dtype == dtype)


def test_the_step_norm_keeps_two_f32_copies_of_its_input():
    from pathsim.workload.xla.step import rms_norm

    avals = _residuals(lambda x, s: rms_norm(x, s, jnp.bfloat16), jnp.ones((B, S, D), jnp.bfloat16),
                       jnp.ones((D,), jnp.float32))
    assert _count(avals, (B, S, D), jnp.float32) == AUTODIFF.norm_f32_copies


@pytest.mark.parametrize("mlp, activation", [
    ("swiglu", lambda u: jax.nn.silu(u[:, :, 0]) * u[:, :, 1]),
    ("gelu", lambda u: jax.nn.gelu(u[:, :, 0])),
    ("relu", lambda u: jax.nn.relu(u[:, :, 0])),
])
def test_the_mlp_activation_keeps_what_the_catalog_says(mlp, activation):
    """Beyond its input (gate and up, the input projection's output) the activation keeps the catalog's
    copies; ReLU keeps a boolean mask (and a broadcast zero XLA folds away)."""
    inputs = 2 if mlp == "swiglu" else 1
    avals = _residuals(activation, jnp.ones((B, S, 2, F), jnp.bfloat16))
    hidden = _count(avals, (B, S, F), jnp.bfloat16)
    if mlp == "relu":
        assert _count(avals, (B, S, F), jnp.bool_) == 1
        assert activation_residual_bytes(mlp, 2) == AUTODIFF.relu_mask_bytes
    else:
        assert hidden - inputs == dict(AUTODIFF.activation_copies)[mlp]
        assert activation_residual_bytes(mlp, 2) == 2 * (hidden - inputs)
