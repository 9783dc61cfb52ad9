"""The model library (pathsim/catalog/models.py): published sizes, names and bases in experiments, and the
shipped experiments that name it."""

import json

import pytest

from tests.support import REPO, small_experiment
from tests.workload.test_model import palm
from pathsim.catalog.models import MODELS, architecture
from pathsim.cli import main
from pathsim.config.experiment import ModelConfig, load_experiment, parse_experiment, read_yaml
from pathsim.errors import ConfigError
from pathsim.workload.model import total_params

# Published parameter totals: the PaLM paper's Table 1, GPT-3's Table 2.1, Gemma's Table 2 (embedding +
# non-embedding), and the exact weight counts of the released Llama 2, Llama 3 and Mistral checkpoints.
PUBLISHED_PARAMS = {
    "palm8b": 8.63e9, "palm62b": 62.50e9, "palm540b": 540.35e9,
    "llama2_7b": 6.738e9, "llama2_13b": 13.016e9, "llama2_70b": 68.977e9,
    "llama3_8b": 8.030e9, "llama3_70b": 70.554e9,
    "gpt3_175b": 175.0e9, "gpt3_2.7b": 2.7e9,
    "gemma_7b": 0.787e9 + 7.751e9,
    "mistral_7b": 7.242e9,
}


def test_every_entry_has_a_published_total():
    assert set(PUBLISHED_PARAMS) == set(MODELS)


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_count_matches_the_publication(name):
    # GPT-3's Table 2.1 gives "2.7B" to two digits; the weights counted here are 2.65B (learned positions
    # and biases, not modelled, add some 6M), so 2.5% for that entry.
    rel = 0.025 if name == "gpt3_2.7b" else 0.01
    assert total_params(ModelConfig(**architecture(name))) == pytest.approx(PUBLISHED_PARAMS[name], rel=rel)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_entry_names_its_source(name):
    assert MODELS[name]["source"].strip()
    assert architecture(name)["name"] == name and "source" not in architecture(name)


@pytest.mark.parametrize("size", ["8b", "62b", "540b"])
def test_palm_entries_are_table_1(size):
    # tests/workload/test_model.py writes Table 1 out independently of the library.
    assert ModelConfig(**architecture(f"palm{size}")) == palm(size).model_copy(update={"name": f"palm{size}"})


def test_a_name_is_the_full_model():
    exp = parse_experiment(small_experiment(model="llama3_70b"))
    assert exp.model == ModelConfig(**architecture("llama3_70b"))
    assert (exp.model.n_kv_heads, exp.model.vocab_size, exp.model.tied_embeddings) == (8, 128256, False)


def test_a_base_with_overrides():
    exp = parse_experiment(small_experiment(model={"base": "palm540b", "n_layers": 4, "seq_len": 1024}))
    full = architecture("palm540b")
    assert exp.model == ModelConfig(**{**full, "n_layers": 4, "seq_len": 1024})
    assert exp.model.name == "palm540b"  # the base's label unless one is given
    named = parse_experiment(small_experiment(model={"base": "palm540b", "name": "palm_tiny"}))
    assert named.model.name == "palm_tiny"


def test_a_full_mapping_still_works():
    exp = parse_experiment(small_experiment())
    assert exp.model.d_model == 1024 and exp.model.name == "transformer"


def refusal(model) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        parse_experiment(small_experiment(model=model))
    assert "\n" not in str(err.value)
    return err.value


def test_unknown_name_says_which_was_meant():
    err = refusal("palm54b")
    assert str(err) == f"model: unknown model 'palm54b'; did you mean palm540b? (known: {', '.join(MODELS)})"


def test_unknown_base_names_the_field():
    err = refusal({"base": "lama2_7b", "n_layers": 2})
    assert err.field == "model.base"
    assert "did you mean llama2_7b?" in err.message


def test_unknown_name_without_a_close_one_lists_the_library():
    assert refusal("bert").message == f"unknown model 'bert' (known: {', '.join(MODELS)})"


def test_an_override_is_validated_like_any_field():
    err = refusal({"base": "palm8b", "n_layer": 4})
    assert (err.field, err.message) == ("model.n_layer", "unknown key; did you mean n_layers?")
    assert refusal({"base": "palm8b", "n_layers": 0}).field == "model.n_layers"
    assert "must divide n_heads" in refusal({"base": "palm8b", "n_kv_heads": 3}).message


def test_models_subcommand_lists_the_library(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in MODELS:
        assert name in out
    assert "540.36B" in out and "PaLM (Chowdhery et al. 2022)" in out


SHIPPED = sorted(p for p in (REPO / "experiments").glob("*.yaml")
                 if "model" in read_yaml(p, "experiment") and "kind" not in read_yaml(p, "experiment"))
COMPARISONS = sorted((REPO / "experiments").glob("pathways_multiisland*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_experiments_name_the_library(path):
    exp, _ = load_experiment(path)
    assert exp.model == ModelConfig(**architecture(exp.model.name))


@pytest.mark.parametrize("path", COMPARISONS, ids=lambda p: p.stem)
def test_multiisland_comparisons_name_the_library(path):
    from pathsim.studies.pathways.config import parse

    cfg = parse(read_yaml(path, "experiment"))
    sections = [name for name in ("pipeline", "data_parallel") if getattr(cfg, name) is not None]
    assert sections
    for section in sections:
        for _, exp, _ in cfg.experiments(section):
            assert exp.model == ModelConfig(**architecture(exp.model.name))


# Measured with `pathsim run --json` (TPU v4's memory-bound kernels at the compiler's figures): the library's
# names must give the figures the model blocks written out gave; a change to the models updates them here.
PINNED = {
    "palm540b_1pod": {"step_time_s": 14.066050464950463, "tokens_per_s": 149093.16621788373,
                      "mfu": 0.5784726000569962, "hfu": 0.7236148293573671},
    "shared_pod_job": {"step_time_s": 0.4582366286012682, "tokens_per_s": 1144142.4959858588,
                       "mfu": 0.4470387569169787, "hfu": 0.5609797558950794},
    "palm540b_failures": {"goodput.goodput": 0.9519091398057359,
                          "goodput.simulated_time_to_train_s": 2777334.2573606283},
}


@pytest.mark.parametrize("name", list(PINNED))
def test_shipped_figures_did_not_move(name, capsys):
    assert main(["run", str(REPO / "experiments" / f"{name}.yaml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key, value in PINNED[name].items():
        got = out
        for part in key.split("."):
            got = got[part]
        assert got == pytest.approx(value, rel=1e-12), key
