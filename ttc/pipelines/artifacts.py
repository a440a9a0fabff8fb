"""The study's named artifacts, declared once: where each lives, what it is, and the settings it must carry.

Each entry is read and checked through `Study.read(name)` (and its settings got by `Study.settings(name)`) by
every notebook that uses it, and written by the one that makes it with those same settings, so a table made
with other settings, or from another variant, is never used. An artifact's stage (which notebook makes it,
and so which variant folder it is in: `ttc.pipelines.stages`) is read off its path.

The settings of an artifact nest those of what it was made from, so that changing an upstream setting moves
every downstream artifact to another variant or refuses it as stale; the manifest beside it also records the
content hash of every artifact its process had read (`ttc.core.store`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

from ttc.models.lm import model_record
from ttc.pipelines.pool import pool_settings as _pool_settings
from ttc.pipelines.stages import STAGES, stage_of_path
from ttc.verifiers.trained import verifier_settings as _verifier_settings


@dataclass(frozen=True)
class Artifact:
    path: str | Callable[["Study"], str]  # under the profile's (or variant's) data folder; {fields} filled in
    what: str  # for messages: "the sample pool"
    settings: Callable[..., Any] | None = None  # (study, **fields) -> its settings; None: checked whole only
    index: str | None = None  # the column made the index on reading

    def relative(self, study: "Study", **fields) -> str:
        path = self.path(study) if callable(self.path) else self.path
        return path.format(**fields)

    def made_by(self, relative: str) -> str:
        stage = STAGES[stage_of_path(relative)]
        return f"notebook {stage.name}" if stage.name[0].isdigit() else f"notebooks/{stage.notebook}.ipynb"


# --------------------------------------------------------------------------
# What each is made of


def ladder_results(study: "Study") -> dict:
    return {"eval": study.config.eval, "problems": [p.id for p in study.splits()["test"]],
            "models": {name: model_record(study.ladder_dir(name)) for name in study.config.ladder.names}}


def pool(study: "Study") -> dict:
    return _pool_settings(study.config.pool, study.splits()["test"], study.policy_record())


def difficulty(study: "Study") -> dict:
    return {"pool": pool(study), "seed": study.config.seed}


@functools.cache
def _n_labels(path) -> int:
    from ttc.core.store import read_table

    return len(read_table(path, what="the PRM labels", made_by="notebook 03"))


def n_labels(study: "Study") -> int:
    """How many Monte Carlo labels notebook 03 trained its verifiers on (in their settings)."""
    return _n_labels(study.path(ARTIFACTS["prm_labels"].relative(study)))


def verifier(study: "Study", kind: str) -> dict:
    return _verifier_settings(study.config.verifiers[kind], study.model_dir(study.config.verifier_base),
                              n_labels(study))


def line_scores(study: "Study", kind: str) -> dict:
    return {"verifier": verifier(study, kind), "pool": pool(study)}


def probability_prm(study: "Study") -> dict:
    from ttc.pipelines.study_verifiers import probability_prm_dirs

    return {"config": study.config.probability_prm, "lm": model_record(probability_prm_dirs(study)[1]),
            "labels": n_labels(study)}


def reference(study: "Study", verifier: dict) -> dict:
    """What a reference verifier's scores of the pool's subset are made of."""
    return {"verifier": verifier, "pool": pool(study), "subset": study.config.verifier_ladder,
            "seed": study.config.seed}


def predicted_difficulty(study: "Study") -> dict:
    if study.config.models.given:  # the given PRM's scores, of notebook 04's search problems
        from ttc.pipelines.study_verifiers import search_verifier_settings

        return {"difficulty": difficulty(study), "prm_scores": search_verifier_settings(study)[1],
                "problems": "notebook 04's search problems"}
    return {"difficulty": difficulty(study), "prm_scores": line_scores(study, "prm")}


def search_results(study: "Study") -> dict:
    from ttc.pipelines.study_verifiers import search_verifier_settings

    name, made = search_verifier_settings(study)
    return {"search": study.config.search, "verifier": name, "verifier_scores": made,
            "difficulty": difficulty(study)}


def revision_data(study: "Study") -> dict:
    r = study.config.revisions
    return {"policy": study.policy_record(), "n_samples": r.n_samples, "temperature": r.temperature,
            "max_new_tokens": r.max_new_tokens, "seed": r.seed}


def revision_model(study: "Study") -> dict:
    r = study.config.revisions
    return {"data": revision_data(study), "problems": r.n_problems, "max_trajectories": r.max_trajectories,
            "max_positions": r.max_positions, "finetune": r.finetune_config()}


def revision_orm(study: "Study") -> dict:
    r = study.config.revisions
    return {"revision_model": revision_model(study), "problems": r.orm_problems, "chains": r.orm_chains,
            "length": r.orm_length, "temperature": r.chain_temperature, "verifier": study.config.verifiers["orm"],
            "base": study.config.verifier_base, "base_model": model_record(study.model_dir(study.config.verifier_base))}


def revision_chains(study: "Study") -> dict:
    r = study.config.revisions
    return {"revision_model": revision_model(study), "budget": r.budget, "temperature": r.chain_temperature,
            "max_new_tokens": r.max_new_tokens, "seed": r.seed}


def revision_scores(study: "Study", name: str, made_with: dict) -> dict:
    """What one selector's scores of the chains are made of (`made_with`: notebook 03's scores' settings)."""
    from ttc.methods.revisions import REVISION_ORM

    return revision_orm(study) if name == REVISION_ORM else made_with[name]


def revision_results(study: "Study") -> dict:
    from ttc.pipelines.study_verifiers import revision_selectors, verifier_ladder

    table, made_with = verifier_ladder(study)
    return {"chains": revision_chains(study),
            "scores": {n: revision_scores(study, n, made_with) for n in revision_selectors(study, table)}}


def seed_study(study: "Study") -> dict:
    from ttc.pipelines.seed_study import model_dir, seed_models

    return {"eval": study.config.eval, "problems": [p.id for p in study.splits()["test"]],
            "models": {f"{name}-seed{seed}": model_record(model_dir(study, name, seed))
                       for name, seed in seed_models(study)}}


def _predicted_path(study: "Study") -> str:
    # notebook 03 bins its PRM's scores of the whole pool; with given models (notebook 03 trains no PRM)
    # notebook 04 bins the given PRM's
    return f"results/{'04' if study.config.models.given else '03'}_predicted_difficulty.parquet"


ARTIFACTS: dict[str, Artifact] = {
    "ladder_results": Artifact("results/01_base_models.parquet", "the ladder's accuracy", ladder_results),
    "pool": Artifact("results/02_pool.parquet", "the sample pool", pool),
    "difficulty": Artifact("results/02_difficulty.parquet", "the oracle difficulty bins", difficulty,
                           index="problem_id"),
    "coverage": Artifact("results/02_coverage.parquet", "the pool's coverage", difficulty),
    "prm_labels": Artifact("results/03_prm_labels.parquet", "the PRM labels"),
    "line_scores": Artifact("results/03_{kind}_line_scores.parquet", "a trained verifier's scores of the pool",
                            line_scores),
    "verifier_ladder": Artifact("results/03_verifier_ladder.parquet", "the verifier ladder", index="verifier"),
    "predicted_difficulty": Artifact(_predicted_path, "the predicted difficulty bins", predicted_difficulty,
                                     index="problem_id"),
    "search_results": Artifact("results/04_search_results.parquet", "the search results", search_results),
    "revision_results": Artifact("results/06_revision_results.parquet", "the revision results", revision_results),
    "seed_study": Artifact("results/seed_study.parquet", "the seed study", seed_study),
}
