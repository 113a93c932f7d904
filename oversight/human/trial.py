"""A trial's content: items from finished runs (`create`), judges with balanced assignments (`invite`), progress.

Assignment (Khan et al. 2024's design): each judge gets `per_judge` items, spread evenly over the strata
(protocol, and for consultancy whether the consultant argues the correct answer), taking in each stratum the
items judged least so far; within each protocol the judge sees the two answer orders in turn. By default a
judge never meets the same story (source text) twice, nor the same question (`unique: question` relaxes it to
questions, `none` drops it).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlalchemy import func, select

from oversight.errors import ConfigError, DataError
from oversight.human.db import Assignment, Decision, Item, Judge, TrialDB, new_token, token_hash
from oversight.store import CONFIG, RunStore
from oversight.types import Transcript

Unique = Literal["story", "question", "none"]
LIVE_PROTOCOLS = ("consultancy", "open-consultancy", "debate", "open-debate")
"""Protocols whose judge asks between rounds (a live debate is an interactive one, `judge_questions`)."""


def create_trial(db: TrialDB, runs: Sequence[str | Path], *, per_judge: int, unique: Unique = "story",
                 live: bool = False, seed: int = 0) -> tuple[int, str | None]:
    """Add every finished episode of `runs` as an item; returns (items added, the admin token when first made).

    `live`: consultancy and debate items are played anew as they are judged, the human asking the agents a
    question between rounds (Khan et al. 2024's interactive protocols)."""
    if per_judge < 1:
        raise ConfigError(f"--per-judge must be at least 1, got {per_judge}")
    added = 0
    with db.session() as s:
        known = {(source, key) for source, key in s.execute(select(Item.source, Item.key))}
        for run in runs:
            folder = Path(run)
            if not (folder / CONFIG).is_file():
                raise DataError(f"{folder} is not a run folder (no {CONFIG}); pass folders `oversight run` wrote")
            config = yaml.safe_load((folder / CONFIG).read_text(encoding="utf-8")) or {}
            protocol = config.get("protocol", "")
            if live and protocol in ("debate", "open-debate"):
                config = {**config, "judge_questions": True}
            if live and protocol not in LIVE_PROTOCOLS:
                raise ConfigError(f"--live plays episodes whose protocol asks the judge between rounds "
                                  f"({', '.join(LIVE_PROTOCOLS)}); {folder} is a {protocol} run. Create its items "
                                  "without --live, or in a trial of their own")
            records = list(RunStore(folder).records())
            if not records:
                raise DataError(f"{folder / 'transcripts.jsonl'} holds no finished episodes to judge")
            for record in records:
                if (str(folder), record["key"]) in known:
                    continue
                saved = Transcript.from_dict(record["transcript"])
                q = saved.question
                side = saved.assignment.get("consultant")
                s.add(Item(source=str(folder), key=record["key"], protocol=saved.protocol, task=q.task,
                           question_id=q.id, story=q.article or q.id, correct_index=q.correct_index,
                           consultant_correct=None if side is None else side == q.correct_index, live=live,
                           config=config, transcript=record["transcript"]))
                added += 1
    admin = None
    if db.setting("admin_token_hash") is None:
        admin = new_token()
        db.set_setting("admin_token_hash", token_hash(admin))
        db.set_setting("form_secret", new_token())
    db.set_setting("per_judge", per_judge)
    db.set_setting("unique", unique)
    db.set_setting("seed", seed)
    return added, admin


def stratum(item: Item) -> tuple[str, Any]:
    return item.protocol, item.consultant_correct


def invite(db: TrialDB, name: str) -> tuple[str, int]:
    """A new judge `name` with a balanced assignment; returns (their private token, items assigned)."""
    if not name or len(name) > 128 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"judge name {name!r}: use letters, digits, '-', '_' or '.' (at most 128 characters)")
    per_judge = db.setting("per_judge")
    if per_judge is None:
        raise ConfigError(f"{db.url} holds no trial yet; run `oversight human create RUN... --db {db.url}` first")
    unique: Unique = db.setting("unique", "story")
    seed = db.setting("seed", 0)
    token = new_token()
    with db.session() as s:
        if s.scalars(select(Judge).where(Judge.name == name)).first() is not None:
            raise ConfigError(f"judge {name!r} is already invited; `oversight human status` shows their progress "
                              "(a lost link cannot be recovered: invite them again under another name)")
        items = list(s.scalars(select(Item).order_by(Item.id)))
        load = Counter(dict(s.execute(select(Assignment.item_id, func.count()).group_by(Assignment.item_id)).all()))
        chosen = choose_items(items, load, per_judge, unique, rng=random.Random(f"{seed}/{name}"))
        if len(chosen) < per_judge:
            raise ConfigError(f"only {len(chosen)} of the trial's {len(items)} items can go to one judge without "
                              f"repeating a {unique}; lower --per-judge to {len(chosen)}, add runs with "
                              "`oversight human create`, or create the trial with --unique question|none")
        judge = Judge(name=name, token_hash=token_hash(token))
        s.add(judge)
        s.flush()
        flip = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 2
        seen: Counter[str] = Counter()
        for position, item in enumerate(chosen):
            order = (seen[item.protocol] + flip) % 2  # each protocol's items alternate the answer order shown
            seen[item.protocol] += 1
            s.add(Assignment(judge_id=judge.id, item_id=item.id, position=position, order=order))
    return token, len(chosen)


def choose_items(items: Sequence[Item], load: Counter, count: int, unique: Unique, rng: random.Random) -> list[Item]:
    """`count` items, round-robin over the strata, least-judged first, never repeating a story/question."""
    strata: dict[tuple[str, Any], list[Item]] = defaultdict(list)
    for item in items:
        strata[stratum(item)].append(item)
    for members in strata.values():
        rng.shuffle(members)
        members.sort(key=lambda item: load[item.id])  # stable: ties stay shuffled
    order = sorted(strata, key=str)
    rng.shuffle(order)
    used: set[str] = set()
    chosen: list[Item] = []
    while len(chosen) < count:
        progressed = False
        for key in order:
            if len(chosen) == count:
                break
            members = strata[key]
            pick = next((item for item in members if not _repeats(item, used, unique)), None)
            if pick is None:
                continue
            members.remove(pick)
            chosen.append(pick)
            used |= _marks(pick, unique)
            progressed = True
        if not progressed:
            break
    rng.shuffle(chosen)  # protocols interleaved, not in strata blocks
    return chosen


def _marks(item: Item, unique: Unique) -> set[str]:
    if unique == "none":
        return set()
    marks = {f"q:{item.question_id}"}
    return marks | {f"s:{item.story}"} if unique == "story" else marks


def _repeats(item: Item, used: set[str], unique: Unique) -> bool:
    return bool(_marks(item, unique) & used)


def progress(db: TrialDB) -> list[dict[str, Any]]:
    """Per judge: items assigned, decided, and the median seconds per decision."""
    rows = []
    with db.session() as s:
        for judge in s.scalars(select(Judge).order_by(Judge.id)):
            seconds = sorted(d.seconds for d in s.scalars(
                select(Decision).join(Assignment).where(Assignment.judge_id == judge.id)))
            rows.append({"judge": judge.name, "assigned": len(judge.assignments), "decided": len(seconds),
                         "median_seconds": seconds[len(seconds) // 2] if seconds else None})
    return rows


def live_configs(db: TrialDB) -> list[dict[str, Any]]:
    """The distinct source configs of the trial's live items (whose agent models `serve` loads at start)."""
    configs: list[dict[str, Any]] = []
    with db.session() as s:
        for config in s.scalars(select(Item.config).where(Item.live.is_(True))):
            if config not in configs:
                configs.append(config)
    return configs
