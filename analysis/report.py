"""Static HTML report of one or more runs (`oversight view`): summary tables, figures, every transcript.

Layout of the output folder:
- `index.html`: the summary tables of `analysis.summary`, the figures, and the list of transcript pages;
- `figures/*.png|svg`;
- `transcripts-001.html`, ...: the episodes, at most `page_size` per page and about `max_page_bytes`,
  so a large run never makes one huge page. Each episode shows the question, the answers (the
  correct one marked, and who argued which), every turn coloured by role with verified quotes
  (`<v_quote>`) and unverified quotes (`<u_quote>`) highlighted, the agent's full output behind a fold,
  and the judge's probabilities. Each page filters its episodes by protocol and outcome.

All model text is untrusted: the templates autoescape everything, and quote tags are turned into
markup by splitting the text into segments first, never by inserting raw HTML. Only tags the harness
wrote are highlighted: those of turns whose quotes it checked (`meta["quotes"]`, present only when the
run verified quotes and the question has an article), and only when the tags in the text match the
turn's recorded counts exactly (`protocols.quotes.reserved_tags` finds disguised ones too). A turn whose
text holds other quote tags (runs written by older versions, which removed agent-written tags in a single
pass) is shown as plain text and flagged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from analysis.load import _read_yaml, iter_records, load_runs
from analysis.summary import TITLES, format_table, summarize, write_figures
from oversight.store import CONFIG
from protocols.quotes import reserved_tags

_QUOTE = re.compile(r"<(v|u)_quote>(.*?)</\1_quote>", re.DOTALL)  # exactly what QuoteVerifier.check writes
SPEAKERS = {"debater_a": "Alice (debater A)", "debater_b": "Bob (debater B)", "consultant": "Consultant",
            "judge": "Judge"}
_ENV = jinja2.Environment(loader=jinja2.PackageLoader("analysis", "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def quote_segments(text: str) -> list[tuple[str, str]]:
    """Split turn text into ("text" | "v_quote" | "u_quote", text) segments at the harness's quote tags,
    which are dropped."""
    segments, end = [], 0
    for match in _QUOTE.finditer(text):
        if match.start() > end:
            segments.append(("text", text[end:match.start()]))
        segments.append((f"{match.group(1).lower()}_quote", match.group(2)))
        end = match.end()
    if end < len(text):
        segments.append(("text", text[end:]))
    return segments


def turn_segments(turn: dict[str, Any], verified_run: bool) -> tuple[list[tuple[str, str]], bool]:
    """The segments of one transcript turn, and whether its text holds quote tags the harness did not write.

    `verified_run`: the run checked quotes and the question has an article. Quote marks come only from
    turns the harness checked, and only when the text's tags (disguised ones included) are exactly the
    `quotes` tags the turn records, `verified_quotes` of them verified; anything else is plain text.
    """
    text = str(turn.get("text", ""))
    meta = turn.get("meta") or {}
    if not verified_run or "quotes" not in meta:
        return [("text", text)] if text else [], False
    segments = quote_segments(text)
    kinds = Counter(kind for kind, _ in segments)
    quotes, verified = int(meta.get("quotes") or 0), int(meta.get("verified_quotes") or 0)
    if (kinds["v_quote"], kinds["u_quote"]) == (verified, quotes - verified) and len(reserved_tags(text)) == 2 * quotes:
        return segments, False
    return [("text", text)] if text else [], True


def _probability(p: Any) -> str:
    return "—" if pd.isna(p) else f"{float(p):.3f}"


def episode_view(record: dict[str, Any], row: pd.Series, quotes: bool = True) -> dict[str, Any]:
    """What the episode template shows, from a transcripts.jsonl record and its row of `load_runs`.

    `quotes`: the run's `quotes` setting (config.yaml); off, no turn's tags are highlighted.
    """
    transcript = record.get("transcript", {})
    question = transcript.get("question", {})
    verified_run = bool(quotes and question.get("context"))
    correct_index = question.get("correct_index", row.get("correct_index"))
    argued: dict[int, list[str]] = {}
    for role, index in (transcript.get("assignment") or {}).items():
        name = SPEAKERS.get(role, role)
        model = row.get(role) if role in ("debater_a", "debater_b") and "vs" in str(row.get("agents", "")) else None
        argued.setdefault(int(index), []).append(f"{name} [{model}]" if model else name)
    probs = (transcript.get("decision") or {}).get("probs") or [row.get("p_answer1"), row.get("p_answer2")]
    widths = [0 if pd.isna(p) else round(100 * float(p), 1) for p in probs]
    outcome = "invalid" if row["invalid"] else ("correct" if row["correct"] else "incorrect")
    verdict = row.get("verdict")
    turns = []
    for t in transcript.get("turns", []):
        segments, foreign = turn_segments(t, verified_run)
        turns.append({"role": t.get("role", ""), "speaker": SPEAKERS.get(t.get("role", ""), t.get("role", "")),
                      "round": int(t.get("round", 0)) + 1, "text": t.get("text", ""), "raw": t.get("raw", ""),
                      "segments": segments, "foreign_tags": foreign})
    return {
        "protocol": row["protocol"], "task": row["task"], "question_id": row["question_id"], "order": row["order"],
        "run": row["run"], "judge": row["judge"], "agents": row.get("agents", ""), "outcome": outcome,
        "anchor": re.sub(r"[^A-Za-z0-9_-]+", "-", f"{row['run']}-{row['episode']}"),
        "question": question.get("question", ""),
        "answers": [{"text": text, "correct": i == correct_index, "argued_by": argued.get(i, [])}
                    for i, text in enumerate(question.get("answers", []))],
        "turns": turns,
        "probs": [_probability(p) for p in probs], "widths": widths,
        "verdict": "invalid" if pd.isna(verdict) else f"answer {int(verdict) + 1}",
        "mass": None if pd.isna(row.get("judge_mass")) else f"{float(row['judge_mass']):.3f}",
        "provenance": provenance_lines(record.get("provenance")),
    }


def provenance_lines(provenance: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(field, value) lines of an episode's provenance; a run written before it was recorded shows `unknown`."""
    if not provenance:
        return [("provenance", "unknown (not recorded by the version that wrote this run)")]
    lines = [(name, str(provenance.get(name))) for name in ("harness_version", "config_hash", "prompts_hash")]
    for role, model in (provenance.get("models") or {}).items():
        pins = [f"{key} {model[key]}" for key in ("sha256", "revision") if model.get(key)]
        options = ", ".join(f"{k}={v}" for k, v in (model.get("options") or {}).items())
        lines.append((f"model {role}", " · ".join([str(model.get("spec")), *([options] if options else []), *pins])))
    sampling = provenance.get("sampling") or {}
    lines.append(("sampling", ", ".join(f"{k}={v}" for k, v in sampling.items())))
    return lines


def _episodes(results: pd.DataFrame) -> Iterator[tuple[pd.Series, dict[str, Any]]]:
    """(row, rendered fragment) per episode, ordered by protocol, run and question."""
    ordered = results.sort_values(["protocol", "run", "question_id", "episode"], kind="stable")
    template = _ENV.get_template("episode.html.j2")
    for run_path, frame in ordered.groupby("run_path", sort=False):
        records = {record.get("key"): record for record in iter_records(Path(run_path))}
        quotes = _read_yaml(Path(run_path) / CONFIG).get("quotes", True) is not False
        for _, row in frame.iterrows():
            record = records.get(row["episode"], {"transcript": {}})
            yield row, Markup(template.render(e=episode_view(record, row, quotes)))


def paginate(items: Iterable[tuple[pd.Series, Markup]], page_size: int, max_page_bytes: int) -> list[list]:
    """Group fragments into pages of at most `page_size` items and about `max_page_bytes` of HTML."""
    pages: list[list] = [[]]
    size = 0
    for item in items:
        length = len(item[1].encode())
        if pages[-1] and (len(pages[-1]) >= page_size or size + length > max_page_bytes):
            pages.append([])
            size = 0
        pages[-1].append(item)
        size += length
    return [page for page in pages if page]


def _table_view(name: str, table: pd.DataFrame) -> dict[str, Any]:
    shown = format_table(table)
    return {"name": name, "title": TITLES.get(name, name.replace("_", " ")), "columns": list(shown.columns),
            "rows": shown.astype(object).where(shown.notna(), "").values.tolist()}


def write_report(paths: str | Path | Iterable[str | Path], out: str | Path, page_size: int = 200,
                 max_page_bytes: int = 2_000_000, title: str | None = None, n_boot: int = 2000) -> Path:
    """Write the report of the runs at `paths` into folder `out`; returns the path of index.html."""
    results = load_runs(paths)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    title = title or "oversight report: " + ", ".join(sorted(results["run"].unique())[:3]) + (
        " ..." if results["run"].nunique() > 3 else "")
    tables = summarize(results, n_boot=n_boot)
    figures = write_figures(results, out / "figures", tables, n_boot=n_boot)
    pages = paginate(_episodes(results), page_size, max_page_bytes)
    page_views = []
    for number, page in enumerate(pages, start=1):
        outcomes = Counter(row["invalid"] and "invalid" or (row["correct"] and "correct" or "incorrect")
                           for row, _ in page)
        page_views.append({"number": number, "file": f"transcripts-{number:03d}.html", "count": len(page),
                           "protocols": sorted({str(row["protocol"]) for row, _ in page}),
                           "outcomes": {k: outcomes.get(k, 0) for k in ("correct", "incorrect", "invalid")}})
    protocols = sorted(results["protocol"].astype(str).unique())
    for view, page in zip(page_views, pages):
        html = _ENV.get_template("page.html.j2").render(
            title=title, number=view["number"], total=len(pages), pages=page_views, protocols=protocols,
            fragments=[fragment for _, fragment in page])
        (out / view["file"]).write_text(html, encoding="utf-8")
    index = _ENV.get_template("index.html.j2").render(
        title=title, episodes=len(results), runs=sorted(results["run"].unique()),
        tables=[_table_view(name, table) for name, table in tables.items()],
        figures=[{"name": name, "png": f"figures/{paths_[0].name}", "svg": f"figures/{paths_[1].name}"}
                 for name, paths_ in figures.items()],
        pages=page_views)
    (out / "index.html").write_text(index, encoding="utf-8")
    return out / "index.html"
