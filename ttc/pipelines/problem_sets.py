"""Which training problems each stage uses: notebook 03's label problems, then notebook 06's revision problems
and its ORM's, distinct and never shared (easy questions repeat in the training split).

Use: `label_problems(study)`; `train, orm = revision_and_orm_problems(study)`.
"""

from __future__ import annotations


from ttc.core.config import ConfigError
from ttc.world import synthetic as W


def distinct_train_problems(study: "Study", start: int, n: int) -> list[W.Problem]:
    """Distinct training problems `start` .. `start + n` in the split's order."""
    train: dict[str, W.Problem] = {}
    for p in study.splits()["train"]:
        if len(train) == start + n:
            break
        train.setdefault(p.id, p)
    if len(train) < start + n:
        raise ConfigError(f"the {study.config.world.n_train} training problems hold {len(train)} distinct ones, "
                          f"fewer than the {start + n} asked for (n_label_problems, then revision_problems and "
                          "revision_orm_problems); lower those or raise n_train")
    return list(train.values())[start:]


def label_problems(study: "Study") -> list[W.Problem]:
    """The first n_label_problems distinct training problems (notebook 03's PRM labels)."""
    return distinct_train_problems(study, 0, study.config.n_label_problems)


def revision_and_orm_problems(study: "Study") -> tuple[list[W.Problem], list[W.Problem]]:
    """The revision model's training problems and its ORM's: distinct training problems after notebook 03's
    label problems, none in both."""
    r = study.config.revisions
    first = distinct_train_problems(study, study.config.n_label_problems, r.n_problems + r.orm_problems)
    return first[:r.n_problems], first[r.n_problems:]
