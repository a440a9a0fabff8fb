"""How the report writes numbers: percentages, and summaries' budgets and bins in numeric order. Shared by the
findings and the claims table, so that both render a number alike."""

from __future__ import annotations

import math


def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}%"


def by_number(d: dict) -> list:
    """Items of a dict keyed by budgets or bins, in numeric order (JSON keeps them as sorted strings)."""
    return sorted(d.items(), key=lambda kv: float(kv[0]) if str(kv[0]).replace(".", "").isdigit() else math.inf)
