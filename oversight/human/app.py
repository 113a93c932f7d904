"""The judges' web app (FastAPI, server-rendered Jinja2 pages, a few lines of vanilla JS for the slider).

Routes (TOKEN is a judge's private token; nothing else opens a judge's pages):

    GET  /j/TOKEN              the judge's next item (or the end of their set)
    GET  /j/TOKEN/N            item N of their set: the question to ask (live), the decision form, or "decided"
    POST /j/TOKEN/N/ask        a question between rounds (live items)
    POST /j/TOKEN/N/decide     the decision: P(answer 1) in the order shown, 1-99 %, and an explanation
    GET  /admin/status         progress per judge, as JSON (header `Authorization: Bearer ADMIN_TOKEN`)
    GET  /healthz              "ok"

A page shows what a model judge reads for that protocol (`oversight.human.play`): never the correct answer, the
other judges' decisions or a source text the protocol hides. Forms carry a token signed for the judge and the
item (CSRF); a wrong judge token is a 403 page, as is a wrong form token. Every submission is committed before
the reply, and pages are rebuilt from the database, so a restarted server or a reloaded page resumes.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from oversight.human.db import Assignment, Decision, Judge, JudgeQuestion, TrialDB, now, token_hash
from oversight.human.play import Stage, play
from oversight.human.trial import progress
from oversight.models.base import Backend
from oversight.store import config_from_saved
from oversight.types import Message, Transcript, image_url

TEMPLATES = Path(__file__).with_name("templates")
QUESTION_CHARS = 2000
EXPLANATION_CHARS = 5000
_TAG = re.compile(r"&lt;(/?)([vu])_quote&gt;")
SECURITY_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "X-Content-Type-Options": "nosniff"}

AgentPool = Callable[[Mapping[str, Any]], Mapping[str, Backend]]
"""Loads (once) the agent backends of a live item's source config: role family -> backend."""


class Forbidden(Exception):
    pass


def render_message(text: str) -> Markup:
    """A prompt's text as HTML: escaped, then the harness's quote tags (agents cannot write them) highlighted.
    The tags stay visible, so the page reads as the model judge's prompt does (its instructions name them)."""
    escaped = html.escape(text, quote=False)

    def tag(match: re.Match[str]) -> str:
        shown = f'<span class="tag">{match.group(0)}</span>'
        if match.group(1):
            return f"{shown}</mark>"
        return f'<mark class="{"verified" if match.group(2) == "v" else "unverified"}">{shown}'

    return Markup(_TAG.sub(tag, escaped))


def create_app(db: TrialDB, agents: AgentPool | None = None) -> FastAPI:
    """The app over trial database `db`; `agents` loads the models of live items (see `oversight human serve`)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
    env.filters["message"] = render_message
    env.filters["image_url"] = image_url
    env.filters["heading"] = message_heading
    secret = (db.setting("form_secret") or "").encode()
    admin_hash = db.setting("admin_token_hash")
    live_lock = threading.Lock()  # one live episode at a time through the agents' models
    app = FastAPI(title="oversight human judging", docs_url=None, redoc_url=None, openapi_url=None)

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status, headers=SECURITY_HEADERS)

    def form_token(judge: Judge, position: int, action: str) -> str:
        message = f"{judge.id}:{position}:{action}".encode()
        return hmac.new(secret, message, hashlib.sha256).hexdigest()

    def check_form(judge: Judge, position: int, action: str, given: str) -> None:
        if not hmac.compare_digest(form_token(judge, position, action), given or ""):
            raise Forbidden

    def judge_of(s: Any, token: str) -> Judge:
        judge = s.scalars(select(Judge).where(Judge.token_hash == token_hash(token))).first()
        if judge is None:
            raise Forbidden
        return judge

    def assignment_of(s: Any, judge: Judge, position: int) -> Assignment:
        if not 0 <= position < 2**31:  # no set is that long, and the database's integers stop there
            raise Forbidden
        found = s.scalars(select(Assignment).where(Assignment.judge_id == judge.id,
                                                   Assignment.position == position)).first()
        if found is None:
            raise Forbidden
        return found

    def stage_of(a: Assignment, p_answer1: float | None = None, seconds: float | None = None,
                 explanation: str = "") -> Stage:
        item = a.item
        config = config_from_saved(item.config)
        human = {"judge": a.judge.name, "seconds": seconds, "explanation": explanation}
        run = lambda: play(config, item.key, Transcript.from_dict(item.transcript), live=item.live, order=a.order,
                           questions=[q.text for q in a.questions], p_answer1=p_answer1,
                           agents=(lambda: agents(item.config)) if agents is not None else None, human=human)
        if not item.live:
            return run()
        with live_lock:
            return run()

    @app.exception_handler(Forbidden)
    def forbidden(_request: Request, _exc: Forbidden) -> HTMLResponse:
        return page("forbidden.html.j2", status=403)

    @app.exception_handler(RequestValidationError)
    def malformed(_request: Request, _exc: RequestValidationError) -> HTMLResponse:
        return page("forbidden.html.j2", status=403)  # a link whose position is no number opens nothing

    @app.exception_handler(StarletteHTTPException)
    def not_found(_request: Request, exc: StarletteHTTPException) -> Response:
        return PlainTextResponse("not found" if exc.status_code == 404 else "error", status_code=exc.status_code,
                                 headers=SECURITY_HEADERS)

    @app.exception_handler(Exception)
    def failed(_request: Request, _exc: Exception) -> HTMLResponse:
        return page("error.html.j2", status=500)

    @app.get("/healthz")
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/j/{token}")
    def home(token: str) -> Response:
        with db.session() as s:
            judge = judge_of(s, token)
            assignments = list(s.scalars(select(Assignment).where(Assignment.judge_id == judge.id)
                                         .order_by(Assignment.position)))
            todo = next((a for a in assignments if a.decision is None), None)
            if todo is not None:
                return RedirectResponse(f"/j/{token}/{todo.position}", status_code=303)
            return page("done.html.j2", judge=judge, total=len(assignments))

    @app.get("/j/{token}/{position}")
    def item_page(token: str, position: int, error: str = "") -> Response:
        with db.session() as s:
            judge = judge_of(s, token)
            a = assignment_of(s, judge, position)
            total = len(judge.assignments)
            decided = sum(1 for other in judge.assignments if other.decision is not None)
            if a.decision is not None:
                return page("decided.html.j2", judge=judge, token=token, position=position, total=total,
                            decided=decided)
            if a.opened is None:
                a.opened = now()
            stage = stage_of(a)
            answers = Transcript.from_dict(a.item.transcript).question.answers
            shown = answers[::-1] if a.order else answers
            return page("item.html.j2", judge=judge, token=token, position=position, total=total, decided=decided,
                        stage=stage, answers=shown, live=a.item.live, protocol=a.item.protocol,
                        ask_token=form_token(judge, position, "ask"),
                        decide_token=form_token(judge, position, "decide"), error=error[:200],
                        question_chars=QUESTION_CHARS, explanation_chars=EXPLANATION_CHARS)

    @app.post("/j/{token}/{position}/ask")
    def ask(token: str, position: int, question: str = Form(""), csrf: str = Form("")) -> Response:
        text = question.strip()
        with db.session() as s:
            judge = judge_of(s, token)
            check_form(judge, position, "ask", csrf)
            if not text or len(text) > QUESTION_CHARS:
                return RedirectResponse(f"/j/{token}/{position}?error=question", status_code=303)
            a = assignment_of(s, judge, position)
            if a.decision is None and stage_of(a).kind == "question":
                s.add(JudgeQuestion(assignment_id=a.id, number=len(a.questions), text=text))
        return RedirectResponse(f"/j/{token}/{position}", status_code=303)

    @app.post("/j/{token}/{position}/decide")
    def decide(token: str, position: int, percent: str = Form(""), explanation: str = Form(""),
               csrf: str = Form("")) -> Response:
        try:
            shown = int(percent)
        except ValueError:
            shown = 0
        with db.session() as s:
            judge = judge_of(s, token)
            check_form(judge, position, "decide", csrf)
            if not 1 <= shown <= 99 or shown == 50:
                return RedirectResponse(f"/j/{token}/{position}?error=percent", status_code=303)
            a = assignment_of(s, judge, position)
            if a.decision is None:
                p_shown = shown / 100
                p_answer1 = 1.0 - p_shown if a.order else p_shown  # the database keeps the presented order
                seconds = (now() - (a.opened or now())).total_seconds()
                stage = stage_of(a, p_answer1, seconds, explanation[:EXPLANATION_CHARS])
                if stage.kind != "done":
                    return RedirectResponse(f"/j/{token}/{position}", status_code=303)
                s.add(Decision(assignment_id=a.id, p_answer1=p_answer1, explanation=explanation[:EXPLANATION_CHARS],
                               seconds=seconds, transcript=stage.transcript.to_dict()))
        return RedirectResponse(f"/j/{token}", status_code=303)

    @app.get("/admin/status")
    def status(authorization: str = Header("")) -> JSONResponse:
        given = authorization.removeprefix("Bearer ").strip()
        if admin_hash is None or not hmac.compare_digest(token_hash(given), admin_hash):
            raise Forbidden
        return JSONResponse(progress(db), headers=SECURITY_HEADERS)

    return app


def message_heading(message: Message) -> str:
    return {"system": "Instructions to the judge", "user": "What the judge reads",
            "assistant": "The judge"}[message.role]
