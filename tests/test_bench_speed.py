"""The speed benchmark runs end to end in quick mode on the tiny dataset (figures not asserted)."""
from __future__ import annotations

import torch

from recbole_csrec.benchmark import speed


def _argv(model: str, tiny_data, output) -> list[str]:
    return ["--model", model, "--dataset", "tiny", "--teacher", "model", "--quick", "--epochs", "2",
            "--threads", str(torch.get_num_threads()), "--output", str(output), f"--data_path={tiny_data}",
            "--use_gpu=False", "--state=WARNING", "--preset=paper",
            "--load_col={'inter': ['user_id', 'item_id', 'rating', 'timestamp']}"]


def test_bench_speed_quick(tiny_data, tmp_path, capsys):
    output = tmp_path / "performance.md"
    import recbole.model.sequential_recommender  # noqa: F401  (RecBole's import switches anomaly mode on)

    anomaly_before = torch.is_anomaly_enabled()
    assert speed.main(_argv("GRU4Rec", tiny_data, output)) == 0
    assert torch.is_anomaly_enabled() == anomaly_before  # the caller's setting survives the bench
    lines = capsys.readouterr().out.strip().splitlines()
    final = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines[-9:] if ": " in line}
    numeric = ["base/recbole epoch ratio", "fused/unfused step ratio", "all_positions/per_row epoch ratio",
               "student/base epoch ratio", "student/base epoch ratio (all positions)", "gemm fraction"]
    for label in numeric:  # the printed lines, each a ratio measured in this run
        ratio = final[label]
        assert len(ratio.split(".")[1]) == 2 and float(ratio) > 0, label
    from recbole_csrec.precision import bf16_units
    bf16 = final["bf16 fused/unfused step ratio"]
    assert float(bf16) > 0 if bf16_units("cpu")[0] else bf16.startswith("n/a (this CPU has no bf16 units")
    assert float(final["output layer alone fused/unfused ratio"].split()[0]) > 0
    text = output.read_text()
    assert "<!-- bench:GRU4Rec-tiny-model -->" in text
    assert "bench_speed.py --model GRU4Rec --dataset tiny" in text and "--output" not in text
    for label in ("RecBole as shipped", "CSRec student, cached", "on-the-fly", "cache build", "end-to-end",
                  "peak memory", "base/recbole epoch ratio", "soft-label diagnostics pass"):
        assert label in text
    # RecBole's phase runs with anomaly mode as RecBole leaves it (on in 1.2.1), ours with it off
    assert "| RecBole as shipped (GRU4Rec, RecBole Trainer) | on |" in text
    assert "| Base (CSRec, teacher none) | off |" in text
    # a second run for another model keeps the first section and the hand-written notes
    output.write_text(text.replace("<!-- bench:", "\n<!-- notes -->\nkept by hand\n<!-- /notes -->\n<!-- bench:", 1))
    assert speed.main(_argv("SASRec", tiny_data, output)) == 0
    text = output.read_text()
    assert "<!-- bench:GRU4Rec-tiny-model -->" in text and "<!-- bench:SASRec-tiny-model -->" in text
    assert text.count("kept by hand") == 1
    summary = text.split("## Summary", 1)[1].split("<!--", 1)[0]
    assert "| GRU4Rec | tiny |" in summary and "| SASRec | tiny |" in summary


def test_bench_speed_bad_input_is_one_line(tiny_data, tmp_path, capsys):
    assert speed.main(_argv("NoSuchModel", tiny_data, tmp_path / "p.md")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench_speed: error:") and "NoSuchModel" in err[0]
    assert not (tmp_path / "p.md").exists()


def test_step_costs_times_every_variant(tiny_data, capsys):
    from recbole_csrec.benchmark import step_costs

    assert step_costs.main(["--model", "GRU4Rec", "--dataset", "tiny", "--batches", "5", f"--data_path={tiny_data}",
                            "--use_gpu=False", "--train_batch_size=16", "--preset=paper",
                            "--load_col={'inter': ['user_id', 'item_id', 'rating', 'timestamp']}"]) == 0
    out = capsys.readouterr().out
    for variant in ("| base |", "| two-part |", "| one log-softmax |", "| one log-softmax + tempered cache |"):
        assert variant in out
