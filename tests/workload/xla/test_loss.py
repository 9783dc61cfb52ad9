"""MaxText's cross entropy in the compiled step: the same loss and gradient as log-softmax's."""

import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy


def _reference(logits, labels):
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[..., None], axis=-1))


def test_the_loss_and_its_custom_gradient_equal_log_softmax_and_autodiff():
    from pathsim.workload.xla.loss import mean_next_token_loss

    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    logits = 4.0 * jax.random.normal(k1, (2, 8, 50), jnp.float32)
    labels = jax.random.randint(k2, (2, 8), 0, 50)
    loss, grad = jax.value_and_grad(mean_next_token_loss)(logits, labels)
    want_loss, want_grad = jax.value_and_grad(_reference)(logits, labels)
    assert loss == pytest.approx(float(want_loss), rel=1e-6)
    assert jnp.allclose(grad, want_grad, atol=1e-7)
    assert jnp.allclose(grad.sum(axis=-1), 0.0, atol=1e-7)  # softmax minus one-hot sums to zero per token


def test_the_forward_keeps_no_log_probabilities():
    """The residuals are the targets, the shifted exponentials and their sums, as MaxText's forward returns
    them; no [tokens, vocabulary] log-softmax."""
    from jax._src.ad_checkpoint import saved_residuals

    from pathsim.workload.xla.loss import cross_entropy

    logits = jnp.ones((4, 50), jnp.float32)
    kept = [aval.shape for aval, _ in saved_residuals(cross_entropy, logits, jax.nn.one_hot(jnp.arange(4), 50))]
    assert sorted(kept) == sorted([(4, 50), (4, 50), (4, 1)])
