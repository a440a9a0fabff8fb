"""`make verify`: retrain the full profile's policy from nothing, evaluate it as notebook 01 does, and
compare each number with the committed `figures/01_summary.json`, exactly.

It works in a folder of its own (`data/verify/`, or `--root`), never in the study's `data/full/`, so a
reader checks the committed study without touching it: the world's splits, the policy pretrained on them
(the full profile's recipe and seed), its greedy accuracy and pass@1 on the test problems. It prints the
machine it ran on beside the one the summary's models were trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ttc.core import determinism
from ttc.core.config import ROOT

SUMMARY = ROOT / "figures" / "01_summary.json"


@dataclass(frozen=True)
class Check:
    name: str
    committed: float | None
    now: float

    @property
    def matches(self) -> bool:
        return self.committed == self.now  # exactly: the same settings give the same bits

    def line(self) -> str:
        committed = "absent" if self.committed is None else repr(self.committed)
        return f"{self.name:<16} committed {committed:<22} now {self.now!r:<22} {'identical' if self.matches else 'DIFFERS'}"


def retrain_policy(root: Path) -> dict[str, float]:
    """The full profile's policy pretrained and evaluated under `root` (reused where already there)."""
    from ttc.pipelines.ladder_study import accuracy_summary, evaluate_model, load_splits, pretrain_on_world
    from ttc.pipelines.study import Study, profile_params
    from ttc.world.tokenizer import build_tokenizer

    cfg = Study.from_params(profile_params("full")).config
    policy = cfg.ladder.policy
    data = Path(root) / "full"
    tokenizer = build_tokenizer()
    splits = load_splits(cfg.world, data / "world")
    meta = pretrain_on_world(policy, tokenizer, splits, cfg.world, cfg.pretrain, data / "models" / policy)
    table = evaluate_model(data / "models" / policy, policy, splits["test"], cfg.eval, cfg.eval.n_samples_policy,
                           data / "results" / "01_eval" / f"{policy}.parquet")
    import pandas as pd

    ladder_row = pd.DataFrame([{"name": policy, "parameters": meta["parameters"]}])
    row = accuracy_summary(table, ladder_row).iloc[0]
    return {"final_val_loss": meta["final_val_loss"], "greedy": float(row.greedy), "pass1": float(row.pass1)}


def retrain_from_scratch_if_stale(root: Path) -> dict[str, float]:
    """`retrain_policy`, reusing what `root` holds from an earlier `make verify` of the same recipe; what was made
    with another recipe (an older checkout's) is removed, said, and made again, never a reason to stop."""
    import shutil

    from ttc.core.store import StaleArtifact

    try:
        return retrain_policy(root)
    except StaleArtifact as e:
        print(f"{root} holds what another recipe made ({str(e).splitlines()[0][:300]}); removing {Path(root) / 'full'} "
              "and starting from nothing")
        shutil.rmtree(Path(root) / "full")
        return retrain_policy(root)


def compare(now: dict[str, float], summary_path: Path = SUMMARY) -> list[Check]:
    summary = json.loads(Path(summary_path).read_text())["summary"]
    committed = next(m for m in summary["models"] if m["name"] == summary["policy"])
    return [Check(name, committed.get(name), value) for name, value in now.items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ttc.checks.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT / "data" / "verify", help="where to work (default: data/verify)")
    parser.add_argument("--summary", type=Path, default=SUMMARY,
                        help="the notebook 01 summary to compare with (default: the committed figures/01_summary.json)")
    args = parser.parse_args(argv)
    print(f"make verify on {determinism.describe()['processor']}; working in {args.root}")
    checks = compare(retrain_from_scratch_if_stale(args.root), args.summary)
    print(f"\nthe full profile's policy against {args.summary}:")
    for check in checks:
        print("  " + check.line())
    failed = [c.name for c in checks if not c.matches]
    print("\n" + ("every number identical: this machine reproduces the committed policy bit for bit" if not failed
                  else f"differs: {', '.join(failed)} (the committed summary was made with other settings or another "
                       "recipe, or this machine does not give the study's bits: run `make test`, whose golden "
                       "record names what moved)"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
