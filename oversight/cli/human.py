"""Human judges: `oversight human create | invite | serve | status | export` (oversight/human/)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import err, out

human_app = typer.Typer(no_args_is_help=True, help="Human judges: put saved or live episodes before people in a "
                        "web app, then analyze their decisions like a model judge's.")
DB_HELP = "The trial's database: sqlite:///trial.db (one file) or any SQLAlchemy URL (postgresql://...)."
Db = Annotated[str, typer.Option("--db", help=DB_HELP)]


def _db(url: str):
    from oversight.human.db import TrialDB

    return TrialDB(url)


@human_app.command()
def create(
    runs: Annotated[list[str], typer.Argument(metavar="RUN...", help="Finished run folders whose episodes to judge.")],
    db: Db = "sqlite:///trial.db",
    per_judge: Annotated[int, typer.Option("--per-judge", help="Items each invited judge gets.")] = 20,
    unique: Annotated[str, typer.Option("--unique", help="What a judge never meets twice: story (the source "
                                        "text; Khan et al. 2024), question, or none.")] = "story",
    live: Annotated[bool, typer.Option("--live", help="Consultancy and debate items are played anew as they are "
                                       "judged: the human asks the agents a question between rounds.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the judges' assignments.")] = 0,
) -> None:
    """Create a trial (or add runs to one): every finished episode of RUN... becomes an item to judge."""
    from oversight.errors import ConfigError
    from oversight.human.trial import create_trial

    if unique not in ("story", "question", "none"):
        raise ConfigError(f"--unique {unique!r}: use story, question or none")
    trial = _db(db)
    added, admin = create_trial(trial, runs, per_judge=per_judge, unique=unique, live=live, seed=seed)  # type: ignore[arg-type]
    out.print(f"{added} item(s) added to {db}", highlight=False)
    if admin is not None:
        out.print(f"admin token (for GET /admin/status; shown once): {admin}", highlight=False)


@human_app.command()
def invite(
    name: Annotated[str, typer.Argument(help="The judge's name (letters, digits, '-', '_', '.').")],
    db: Db = "sqlite:///trial.db",
    url: Annotated[str, typer.Option("--url", help="The app's address as judges reach it.")] = "http://localhost:8080",
) -> None:
    """Invite a judge: assign a balanced set of items and print their private link (shown once)."""
    from oversight.human.trial import invite as invite_judge

    token, count = invite_judge(_db(db), name)
    out.print(f"{name}: {count} item(s). Private link (shown once): {url.rstrip('/')}/j/{token}", highlight=False)


@human_app.command()
def serve(
    db: Db = "sqlite:///trial.db",
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    cache: Annotated[Optional[str], typer.Option("--cache", help="Response cache of live items' agents "
                                                 "(default: human-cache.sqlite in the current folder).")] = None,
) -> None:
    """Serve the judges' pages until Ctrl-C; the agent models of live items are loaded first."""
    import uvicorn

    from oversight.human.app import create_app
    from oversight.human.models import AgentPool

    from oversight.human.trial import live_configs

    trial = _db(db)
    pool = AgentPool(cache or "human-cache.sqlite", console=err)
    try:
        for config in live_configs(trial):  # loaded now, not while a judge waits on a page
            pool(config)
        err.print(f"judges' pages at http://{host}:{port}/j/<token> (Ctrl-C stops)", highlight=False)
        uvicorn.run(create_app(trial, pool), host=host, port=port, log_level="warning")
    finally:
        pool.close()


@human_app.command()
def status(db: Db = "sqlite:///trial.db") -> None:
    """Progress per judge: items assigned and decided, median seconds per decision."""
    from rich.table import Table

    from oversight.human.trial import progress

    rows = progress(_db(db))
    table = Table("judge", "assigned", "decided", "median s")
    for row in rows:
        seconds = row["median_seconds"]
        table.add_row(row["judge"], str(row["assigned"]), str(row["decided"]),
                      "-" if seconds is None else f"{seconds:.0f}")
    out.print(table)
    out.print(f"{len(rows)} judge(s), {sum(r['decided'] for r in rows)} decision(s)", highlight=False)


@human_app.command()
def export(
    db: Db = "sqlite:///trial.db",
    out_dir: Annotated[str, typer.Option("--out", help="Folder for the run folders (one per source run and judge).")] = "runs/human-trial",
) -> None:
    """Write the decisions as run folders (judge = human:<name>) that `oversight analyze` reads."""
    from oversight.human.export import export_trial

    for folder, episodes in export_trial(_db(db), out_dir):
        out.print(f"{folder}: {episodes} episode(s)", highlight=False)
