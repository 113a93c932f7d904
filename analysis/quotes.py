"""Verified-quote rates per speaker: how often each debater's (or the consultant's) quotes were found in the article.

The results table sums quotes per episode; the split by role lives in each turn's `meta` (`quotes`,
`verified_quotes`, `quote_scores`, written by `protocols.base.Protocol.speak`), so it is read from the run's
transcripts. Only turns whose quotes were checked count (a task with an article, `quotes` on). A strict run's
and a fuzzy run's rates differ in what "verified" means (`quote_match`, see protocols/quotes.py), so the
setting is a column of the table; `fuzzy_verified` counts verified quotes that matched inexactly (score < 100).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd
import yaml

from oversight.store import CONFIG, RunStore

TITLE = ("Verified quotes per speaker: quotes checked against the article, verified, their share (rate), and the "
         "verified ones that matched inexactly (fuzzy quote matching)")
KEYS = ("run", "protocol", "task", "quote_match", "role")
COLUMNS = (*KEYS, "turns", "quotes", "verified", "rate", "fuzzy_verified")


def quote_match_of(run: Path) -> str:
    """The run's `quote_match` setting from its config.yaml (`strict` for runs that predate it)."""
    try:
        saved = yaml.safe_load((run / CONFIG).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        saved = None
    return str((saved if isinstance(saved, dict) else {}).get("quote_match") or "strict")


def quote_rates(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run and role that checked quotes (`results` from `analysis.load.load_runs`, which names each
    run's folder in `run_path`); empty when no run did."""
    totals: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for label, path in results[["run", "run_path"]].drop_duplicates().itertuples(index=False):
        match = quote_match_of(Path(path))
        for record in RunStore(Path(path)).records():
            transcript = record.get("transcript") or {}
            row = record.get("row") or {}
            for turn in transcript.get("turns", []):
                meta = turn.get("meta") or {}
                if "quotes" not in meta:  # a turn whose quotes were not checked
                    continue
                key = (label, str(row.get("protocol", transcript.get("protocol"))), str(row.get("task")), match,
                       str(turn.get("role")))
                verified = int(meta.get("verified_quotes", 0))
                exact = sum(score >= 100 for score in meta.get("quote_scores") or [])  # 100 only for exact matches
                total = totals[key]
                total[0] += 1
                total[1] += int(meta["quotes"])
                total[2] += verified
                total[3] += max(verified - exact, 0) if "quote_scores" in meta else 0
    rows = [{**dict(zip(KEYS, key)), "turns": t, "quotes": q, "verified": v, "rate": v / q if q else float("nan"),
             "fuzzy_verified": f} for key, (t, q, v, f) in sorted(totals.items())]
    return pd.DataFrame(rows, columns=list(COLUMNS))
