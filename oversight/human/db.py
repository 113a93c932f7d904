"""The trial database: items to judge, judges, their assignments, questions and decisions (SQLAlchemy).

Any SQLAlchemy URL works: `sqlite:///trial.db` (the default, one file) or `postgresql://...` for a trial run
from several sites. The schema is created on first use. Every write is its own committed transaction, so a
crashed server or a closed browser loses nothing a judge submitted.

Judges and the admin are known by random tokens; only their SHA-256 is stored (a leaked database gives no
link). Correct answers live in `items.correct_index` and the saved transcripts; the app never renders them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from oversight.errors import ConfigError, DataError

try:
    from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint,
                            create_engine, event)
    from sqlalchemy.exc import ArgumentError, OperationalError
    from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ConfigError("human trials need SQLAlchemy and FastAPI: pip install 'oversight[human]'") from exc


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC: SQLite keeps no time zone


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Setting(Base):
    """Trial-wide settings: `per_judge`, `unique`, `seed`, the admin token's hash, the form-signing secret."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Item(Base):
    """One episode to judge: a saved transcript of a source run (or, `live`, an episode played as it is judged)."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("source", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    """The source run folder, as given to `create`."""
    key: Mapped[str] = mapped_column(String(512))
    """The episode key in the source run (`<question id>#<order>[/<variant>]`)."""
    protocol: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(64))
    question_id: Mapped[str] = mapped_column(String(512))
    story: Mapped[str] = mapped_column(String(512))
    """The source text's key (`Question.article`); the question id for tasks without one."""
    correct_index: Mapped[int] = mapped_column(Integer)
    consultant_correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    live: Mapped[bool] = mapped_column(Boolean, default=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The source run's config.yaml."""
    transcript: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The saved transcript (its question and sides for a live item)."""


class Judge(Base):
    __tablename__ = "judges"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=now)
    assignments: Mapped[list[Assignment]] = relationship(back_populates="judge", order_by="Assignment.position")


class Assignment(Base):
    """An item given to a judge, in the answer order the judge sees (`order` 1: the labels swapped)."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("judge_id", "item_id"), UniqueConstraint("judge_id", "position"))
    id: Mapped[int] = mapped_column(primary_key=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judges.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    position: Mapped[int] = mapped_column(Integer)
    order: Mapped[int] = mapped_column(Integer)
    opened: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    """When the judge first opened it (time spent counts from here)."""
    judge: Mapped[Judge] = relationship(back_populates="assignments")
    item: Mapped[Item] = relationship()
    questions: Mapped[list[JudgeQuestion]] = relationship(order_by="JudgeQuestion.number")
    decision: Mapped[Decision | None] = relationship(uselist=False)


class JudgeQuestion(Base):
    """A question the judge asked between rounds of a live episode."""

    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("assignment_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime, default=now)


class Decision(Base):
    """The judge's probabilities, in the item's presented answer order, whichever order the judge saw."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    p_answer1: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(Float)
    transcript: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The episode as the protocol's code finished it with the judge's decision."""
    created: Mapped[datetime] = mapped_column(DateTime, default=now)


class TrialDB:
    """A connection to one trial's database (see the module docstring)."""

    def __init__(self, url: str) -> None:
        if "://" not in url:
            raise ConfigError(f"--db {url!r} is not a database URL; use sqlite:///trial.db (a file) or a "
                              "SQLAlchemy URL such as postgresql://user@host/trial")
        try:
            self.engine = create_engine(url)
        except (ArgumentError, ImportError) as exc:
            raise ConfigError(f"--db {url!r} cannot be opened ({exc}); use sqlite:///trial.db or a SQLAlchemy URL "
                              "whose driver is installed") from None
        self.url = url
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError as exc:
            raise DataError(f"database {url} cannot be opened or created: {exc.orig}") from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed at the end of the block (rolled back if it raises)."""
        with self.sessions() as session, session.begin():
            yield session

    def setting(self, key: str, default: Any = None) -> Any:
        with self.session() as s:
            row = s.get(Setting, key)
            return json.loads(row.value) if row is not None else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.session() as s:
            s.merge(Setting(key=key, value=json.dumps(value)))

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")  # two judges submitting at once wait, not fail
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
