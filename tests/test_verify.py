"""`make verify`'s comparison: each retrained number beside the committed one, equal only when identical."""

import json

from ttc.checks.verify import compare


def test_each_number_matches_only_when_it_is_identical(tmp_path):
    summary = tmp_path / "01_summary.json"
    summary.write_text(json.dumps({"summary": {"policy": "d32-l2", "models": [
        {"name": "d48-l3", "greedy": 0.9, "pass1": 0.8, "final_val_loss": 0.01},
        {"name": "d32-l2", "greedy": 0.696, "pass1": 0.595, "final_val_loss": 0.057237704122512244}]}}))
    checks = compare({"final_val_loss": 0.057237704122512244, "greedy": 0.696, "pass1": 0.5950000000000001},
                     summary)
    assert [(c.name, c.matches) for c in checks] == [("final_val_loss", True), ("greedy", True), ("pass1", False)]
    assert "identical" in checks[0].line() and "DIFFERS" in checks[2].line() and "0.5950000000000001" in checks[2].line()


def test_a_verify_folder_left_by_another_recipe_is_cleared_not_a_reason_to_stop(tmp_path, monkeypatch, capsys):
    from ttc.checks import verify
    from ttc.core.store import StaleArtifact

    (tmp_path / "full" / "models").mkdir(parents=True)
    calls = []

    def retrain(root):
        calls.append((tmp_path / "full").exists())
        if len(calls) == 1:
            raise StaleArtifact("model d32-l2 was made with other settings (differing: ['pretrain'])")
        return {"greedy": 0.5}

    monkeypatch.setattr(verify, "retrain_policy", retrain)
    assert verify.retrain_from_scratch_if_stale(tmp_path) == {"greedy": 0.5}
    assert calls == [True, False]  # the second run started from nothing
    assert "holds what another recipe made (model d32-l2 was made with other settings" in capsys.readouterr().out
