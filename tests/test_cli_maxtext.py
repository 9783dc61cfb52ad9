"""End to end: four of MaxText's published launches (maxtext 0.2.5, configs/...) run straight from
their settings, next to the same launches written as pathsim experiments: identical predictions."""

from __future__ import annotations

import json

import pytest

from pathsim.cli import EXIT_BAD_INPUT, main

# The settings of each launch script as MaxText receives them, with the slice the script names.
LAUNCHES = {
    # configs/tpu/v5p/1024b.sh, AOT example: M_COMPILE_TOPOLOGY=v5p-2048 M_COMPILE_TOPOLOGY_NUM_SLICES=2
    "1024b_v5p_2048x2": (
        "steps=15 per_device_batch_size=2 enable_checkpointing=false remat_policy=full global_parameter_scale=1024 "
        "ici_fsdp_parallelism=-1 ici_tensor_parallelism=16 max_target_length=2048 base_output_directory=gs://out "
        "use_iota_embed=true reuse_example_batch=1 dataset_type=synthetic gcs_metrics=true attention=flash "
        "quantization= compile_topology=v5p-2048 compile_topology_num_slices=2", []),
    # configs/tpu/v6e/llama2_7b_4096.sh on a v6e-256
    "llama2_7b_v6e_256": (
        "model_name=llama2-7b steps=15 per_device_batch_size=12 enable_checkpointing=false remat_policy=full "
        "ici_fsdp_parallelism=-1 max_target_length=4096 base_output_directory=gs://out reuse_example_batch=1 "
        "dataset_type=synthetic gcs_metrics=true attention=flash sa_block_q=1024 sa_block_q_dkv=2048 "
        "sa_block_q_dq=2048", ["--topology", "v6e-256"]),
    # configs/tpu/v5e/16b.sh on one v5e-256 ("for any number of v5e-256 slices")
    "16b_v5e_256": (
        "steps=15 per_device_batch_size=6 enable_checkpointing=false remat_policy=full global_parameter_scale=16 "
        "max_target_length=2048 base_output_directory=gs://out use_iota_embed=true reuse_example_batch=1 "
        "dataset_type=synthetic attention=flash gcs_metrics=true", ["--topology", "v5e-256"]),
    # configs/experimental/512b.sh on a v4-2048 (1024 chips: fsdp 64 x tensor 16)
    "512b_v4_2048": (
        "steps=20 per_device_batch_size=2 enable_checkpointing=false remat_policy=full global_parameter_scale=512 "
        "ici_fsdp_parallelism=-1 ici_tensor_parallelism=16 max_target_length=2048 base_output_directory=gs://out "
        "dataset_path=gs://data use_iota_embed=true reuse_example_batch=1 dataset_type=synthetic gcs_metrics=true "
        "attention=flash quantization=", ["--topology", "v4-2048"]),
}


def _json(capsys, *argv) -> dict:
    main(list(argv))
    out = capsys.readouterr()
    return json.loads(out.out)


@pytest.mark.parametrize("name", sorted(LAUNCHES))
def test_a_maxtext_launch_and_its_experiment_predict_the_same(name, repo, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # base.yml is MaxText's, as pathsim ships it
    settings, flags = LAUNCHES[name]
    written = tmp_path / f"{name}.yaml"
    launched = _json(capsys, "run", "--maxtext", "base.yml", *settings.split(), *flags, "--json",
                     "--write-experiment", str(written))
    shipped = repo / "experiments" / "maxtext" / f"{name}.yaml"  # MaxText's dims in full, not library names
    assert written.read_text() == shipped.read_text()
    assert _json(capsys, "run", str(shipped), "--json") == launched
    assert launched["chips"] in (256, 1024, 2048) and 0 < launched["mfu"] < 1


def test_ignored_keys_go_to_stderr_and_flash_attention_is_modelled(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings, flags = LAUNCHES["llama2_7b_v6e_256"]
    written = tmp_path / "launch.yaml"
    main(["run", "--maxtext", "base.yml", *settings.split(), *flags, "--json", "--write-experiment", str(written)])
    out = capsys.readouterr()
    assert "steps=15" in out.err and "sa_block_q=1024" in out.err and "note:" not in out.err
    assert "  attention: flash\n" in written.read_text()
    assert json.loads(out.out)["experiment"] == "llama2-7b on v6e-256"


@pytest.mark.parametrize("argv, message", [
    # a remat policy name MaxText deprecated (an alias of minimal_with_context), not in base.yml's list
    (["model_name=llama2-70b", "remat_policy=minimal_flash", "per_device_batch_size=4"],
     "error: remat_policy: 'minimal_flash' is not understood"),
    (["quantization=int8"], "error: quantization: quantization='int8' would change the step"),
    (["per_device_batchsize=4"], "did you mean per_device_batch_size?"),
    (["model_name=llama2-70b", "base_emb_dim=1024"], "contradicts model_name=llama2-70b"),
    (["model_name=llama9"], "error: model_name: no model file llama9.yml"),
])
def test_refusals_are_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--maxtext", "base.yml", *argv, "--topology", "v5p-128"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_slice_name_and_flags_refused_in_one_line(repo, capsys):
    assert main(["run", "--maxtext", "base.yml", "--topology", "v6e-512"]) == EXIT_BAD_INPUT
    assert "valid: v6e-1, v6e-4" in capsys.readouterr().err
    assert main(["run", str(repo / "experiments" / "palm540b.yaml"), "--topology", "v6e-256"]) == EXIT_BAD_INPUT
    assert "--topology: applies to a MaxText launch only" in capsys.readouterr().err
    assert main(["run", str(repo / "experiments" / "palm540b.yaml"), "steps=3"]) == EXIT_BAD_INPUT
    assert "give one experiment file" in capsys.readouterr().err
