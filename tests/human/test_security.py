"""What the judges' web app must never do (oversight/human/app.py): show a judge the correct answer, another
judge's work or a source text the protocol hides; render agent text as HTML; accept a forged form, a wrong link or
a non-decision; keep a token in the clear. Judges are crawled in-process through FastAPI's TestClient."""

from __future__ import annotations

import html
import io
import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from tests.human.conftest import SCRIPTED, csrf_of

pytest.importorskip("sqlalchemy")
pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from oversight.human.app import create_app, render_message  # noqa: E402
from oversight.human.db import Assignment, Base, Decision, Item, Judge, JudgeQuestion, TrialDB, token_hash  # noqa: E402
from oversight.human.play import play  # noqa: E402
from oversight.human.trial import create_trial, invite  # noqa: E402
from oversight.store import config_from_saved  # noqa: E402
from oversight.types import Message, Transcript  # noqa: E402

HIDES_ARTICLE = ("debate", "consultancy", "direct")
SHOWS_ARTICLE = ("direct-article",)
WINDOW = 12
"""Words in a row that count as the article's text."""
TEMPLATE_CORRECT = ("How likely is each answer to be correct?", "Probability that answer 1 is correct")
"""The only sentences of the app's own that say "correct"; any other must come from the judge's prompt."""
NAMES = ("alice.zq7", "bob.xv3")


@pytest.fixture(scope="module")
def article_run(tmp_path_factory) -> Path:
    """QA with the article, on the same questions as the `scripted_runs`: a protocol whose page shows the text."""
    import oversight

    out = tmp_path_factory.mktemp("article-run")
    return oversight.run("direct-article", limit=6, out=str(out), quiet=True, **SCRIPTED).path


@pytest.fixture
def open_trial(tmp_path) -> Iterator[Any]:
    """Makes trials in this test's folder: (runs, per_judge, unique, live) -> (TrialDB, admin token)."""
    made: list[TrialDB] = []

    def make(runs: list[Path], per_judge: int, unique: str = "question", live: bool = False) -> tuple[TrialDB, str]:
        db = TrialDB(f"sqlite:///{tmp_path / f'trial-{len(made)}.db'}")
        made.append(db)
        _, admin = create_trial(db, runs, per_judge=per_judge, unique=unique, live=live)  # type: ignore[arg-type]
        return db, admin

    yield make
    for db in made:
        db.close()


@pytest.fixture
def open_client() -> Iterator[Any]:
    """Makes TestClients over an app, each kept open (one event loop for all its requests) until the test ends."""
    with ExitStack() as stack:
        yield lambda app, **options: stack.enter_context(TestClient(app, **options))


@dataclass
class Seat:
    """One item of a judge's set, as the database holds it."""

    position: int
    order: int
    item: dict[str, Any]


@dataclass
class Person:
    name: str
    token: str
    seats: list[Seat]
    explanations: list[str] = field(default_factory=list)
    questions: dict[int, list[str]] = field(default_factory=dict)

    def private(self) -> list[str]:
        """What no other judge may ever see."""
        return [self.name, self.token, token_hash(self.token), *self.explanations,
                *(q for asked in self.questions.values() for q in asked)]


ITEM_COLUMNS = ("id", "source", "key", "protocol", "question_id", "live", "config", "transcript")


def as_dict(item: Item) -> dict[str, Any]:
    return {column: getattr(item, column) for column in ITEM_COLUMNS}


def all_items(db: TrialDB) -> list[dict[str, Any]]:
    with db.session() as s:
        return [as_dict(item) for item in s.scalars(select(Item))]


def invite_judge(db: TrialDB, name: str) -> Person:
    token, _ = invite(db, name)
    with db.session() as s:
        judge = s.scalars(select(Judge).where(Judge.name == name)).one()
        seats = [Seat(a.position, a.order, as_dict(a.item)) for a in judge.assignments]
    return Person(name, token, seats)


def question_of(item: dict[str, Any]) -> Any:
    return Transcript.from_dict(item["transcript"]).question


def expected_messages(seat: Seat, questions: list[str], agents: Any = None,
                      order: int | None = None) -> tuple[Message, ...]:
    """What a model judge reads for this item, in the order the judge is shown (or `order`), before deciding."""
    item = seat.item
    stage = play(config_from_saved(item["config"]), item["key"], Transcript.from_dict(item["transcript"]),
                 live=item["live"], order=seat.order if order is None else order, questions=questions,
                 p_answer1=None, agents=(lambda: agents(item["config"])) if item["live"] else None)
    return stage.messages


def grams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + WINDOW]) for i in range(len(words) - WINDOW + 1)}


def visible(response: Any) -> str:
    """Everything a response carries: its body and every header."""
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return f"{response.text}\n{headers}"


def db_snapshot(db: TrialDB) -> dict[str, list[str]]:
    with db.engine.connect() as connection:
        return {table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
                for table in Base.metadata.sorted_tables}


def decisions(db: TrialDB) -> list[tuple[int, float, str]]:
    with db.session() as s:
        return [(d.assignment_id, d.p_answer1, d.explanation) for d in s.scalars(select(Decision))]


class Crawler:
    """Every page a judge's link reaches, each response of every redirect chain recorded with its position."""

    def __init__(self, client: TestClient, person: Person, agents: Any = None) -> None:
        self.client, self.person, self.agents = client, person, agents
        self.seen: list[tuple[int | None, Any, tuple[Message, ...]]] = []
        """(position of the URL or None, response, the judge's prompt the page must show or ())."""

    def fetch(self, method: str, path: str, **form: Any) -> Any:
        response = self.client.request(method, path, **form)
        for r in (*response.history, response):
            self.seen.append((self.position_of(r.url.path), r, self.prompt_of(r)))
        return response

    def position_of(self, path: str) -> int | None:
        match = re.fullmatch(rf"/j/{re.escape(self.person.token)}/(\d+)(?:/\w+)?", path)
        return int(match.group(1)) if match else None

    def prompt_of(self, response: Any) -> tuple[Message, ...]:
        position = self.position_of(response.url.path)
        if position is None or response.status_code != 200 or 'id="prompt"' not in response.text:
            return ()
        return expected_messages(self.person.seats[position], self.person.questions.get(position, []), self.agents)

    def judge(self, position: int, percent: int) -> None:
        """Open the item by the link, reload it, ask (live), try a non-decision, decide, then come back to it."""
        token = self.person.token
        here = f"/j/{token}/{position}"
        page = self.fetch("GET", f"/j/{token}")
        assert page.url.path == here, "the link resumes at the first undecided item"
        page = self.fetch("GET", here)
        asked = self.person.questions.setdefault(position, [])
        while f'action="{here}/ask"' in page.text:
            asked.append(f"question {len(asked)} of {self.person.name} on item {position}")
            page = self.fetch("POST", f"{here}/ask", data={"question": asked[-1], "csrf": csrf_of(page.text)})
            assert page.url.path == here
        decide = csrf_of(page.text)
        forbidden = self.fetch("POST", f"{here}/ask", data={"question": "one more?", "csrf": decide})
        assert forbidden.status_code == 403, "the decision's form token does not ask"
        refused = self.fetch("POST", f"{here}/decide", data={"percent": "50", "csrf": decide})
        assert refused.url.path == here and refused.url.query == b"error=percent"
        self.person.explanations.append(f"because {self.person.name} read item {position} twice")
        done = self.fetch("POST", f"{here}/decide", data={"percent": str(percent), "csrf": decide,
                                                          "explanation": self.person.explanations[-1]})
        assert done.status_code == 200
        again = self.fetch("GET", here)
        assert "Your decision on this item is saved" in again.text
        self.fetch("POST", f"{here}/decide", data={"percent": str(100 - percent), "csrf": decide,
                                                   "explanation": "a second thought"})


def check_crawl(crawler: Crawler, other: Person, db: TrialDB, admin: str, items: list[dict[str, Any]]) -> int:
    """No response of `crawler`'s judge leaks a secret; every undecided page shows the judge's prompt. Returns the
    number of pages of a protocol that shows the article (each checked to show it)."""
    person = crawler.person
    never = [*other.private(), admin, db.setting("form_secret"), "correct_index", "consultant_correct", "p_answer1"]
    for item in items:
        never += [item["source"], Path(item["source"]).name, item["key"], item["question_id"]]
    articles = {question_of(item).context for item in items}
    article_grams = {text: grams(text) for text in articles}
    everything = set().union(*article_grams.values())
    shown_articles = 0
    for position, response, prompt in crawler.seen:
        where = f"{person.name} {response.request.method} {response.url.path}: {response.status_code}"
        text = visible(response)
        assert "Traceback" not in text and response.status_code < 500, where
        if response.status_code != 303:  # a page with the token in its address: never cached, never a referrer
            assert response.headers["cache-control"] == "no-store", where
            assert response.headers["referrer-policy"] == "no-referrer", where
        for secret in never:
            assert secret not in text, f"{where} shows {secret!r}"
        rest = text
        if prompt:
            assert response.text.count('class="message"') == len(prompt), f"{where} shows more than the prompt"
        for message in prompt:
            rendered = str(render_message(message.content))
            assert rendered in response.text, f"{where} lacks the judge's prompt ({message.role})"
            if "_quote>" not in message.content:
                assert html.escape(message.content, quote=False) in response.text, where
            rest = rest.replace(rendered, "")
        for sentence in TEMPLATE_CORRECT:
            rest = rest.replace(sentence, "")
        assert not re.search(r"(?i)correct", rest), f"{where} says 'correct' outside the judge's prompt"
        page = grams(html.unescape(response.text))
        seat = person.seats[position] if position is not None else None
        own = question_of(seat.item).context if seat is not None and seat.item["protocol"] in SHOWS_ARTICLE else None
        if own is not None and prompt:
            assert len(page & article_grams[own]) >= 0.9 * len(article_grams[own]), f"{where} lacks the article"
            shown_articles += 1
        hidden = everything - article_grams[own] if own is not None else everything
        assert not page & hidden, f"{where} shows {len(page & hidden)} windows of a hidden article"
    return shown_articles


def crawl_two_judges(client: TestClient, db: TrialDB, agents: Any = None) -> tuple[Crawler, Crawler]:
    alice, bob = (Crawler(client, invite_judge(db, name), agents) for name in NAMES)
    total = len(alice.person.seats)
    assert total == len(bob.person.seats)
    for position in range(total):
        for n, crawler in enumerate((alice, bob)):
            crawler.judge(position, percent=[10, 35, 65, 90][(position + n) % 4])
    for crawler in (alice, bob):
        assert "You have judged all" in crawler.fetch("GET", f"/j/{crawler.person.token}").text
    return alice, bob


def test_a_crawl_of_two_judges_shows_no_answer_no_other_judge_and_no_hidden_article(open_trial, scripted_runs,
                                                                                      article_run, open_client):
    runs = [*scripted_runs.values(), article_run]
    db, admin = open_trial(runs, per_judge=30, unique="none")  # both judges get every item: each item twice
    items = all_items(db)
    assert len(items) == 30 and {i["protocol"] for i in items} == {*HIDES_ARTICLE, *SHOWS_ARTICLE}
    alice, bob = crawl_two_judges(open_client(create_app(db)), db)
    assert len(decisions(db)) == 60
    for crawler, other in ((alice, bob), (bob, alice)):
        shown = check_crawl(crawler, other.person, db, admin, items)
        assert shown >= 2 * 6, "every QA-with-article item's page shows its article (the search works)"
        assert len(crawler.seen) > 30 * 8


def test_a_crawl_of_live_consultancy_shows_no_other_judges_questions(open_trial, scripted_runs, tmp_path, open_client):
    """Live items: the judges ask the consultant between rounds; neither sees the other's questions."""
    from rich.console import Console

    from oversight.human.models import AgentPool

    db, admin = open_trial([scripted_runs["consultancy"]], per_judge=12, unique="none", live=True)
    items = all_items(db)
    pool = AgentPool(tmp_path / "cache.sqlite", console=Console(file=io.StringIO()))
    try:
        alice, bob = crawl_two_judges(open_client(create_app(db, pool)), db, pool)
        for crawler, other in ((alice, bob), (bob, alice)):
            assert check_crawl(crawler, other.person, db, admin, items) == 0
            assert all(crawler.person.questions[p] for p in range(12)), "every live item asked a question"
            pages = [r.text for _, r, prompt in crawler.seen if prompt]
            assert any(crawler.person.questions[0][0] in page for page in pages), "the judge's own question shows"
    finally:
        pool.close()
    with db.session() as s:
        assert s.scalar(select(JudgeQuestion.id).limit(1)) is not None


def test_each_page_shows_the_judges_prompt_in_the_order_shown(open_trial, scripted_runs, article_run, open_client):
    db, _ = open_trial([*scripted_runs.values(), article_run], per_judge=6)
    person = invite_judge(db, "carol")
    client = open_client(create_app(db))
    orders = set()
    for seat in person.seats:
        page = client.get(f"/j/{person.token}/{seat.position}").text
        answers = question_of(seat.item).answers
        shown = answers[::-1] if seat.order else answers
        assert f"Answer 1: {escape(shown[0])}<br>" in page and f"Answer 2: {escape(shown[1])}<br>" in page
        for message in expected_messages(seat, []):
            assert str(render_message(message.content)) in page
        other = expected_messages(seat, [], order=1 - seat.order)
        if other != expected_messages(seat, []):
            assert str(render_message(other[-1].content)) not in page, "only the order shown is on the page"
        orders.add(seat.order)
    assert orders == {0, 1}


HARNESS_TAGS = ("<v_quote>", "</v_quote>", "<u_quote>", "</u_quote>")
HTMLISH = st.sampled_from(["<script>", "</script>", "<SCRIPT SRC=//evil.example>", "<script\n>", "<scr<script>ipt>",
                           '<mark class="verified">', '<mark class="unverified">', "</mark>", '<span class="tag">',
                           *HARNESS_TAGS, "<V_QUOTE>", "< v_quote>", "&lt;v_quote&gt;", "&lt;/v_quote&gt;",
                           "&lt;script&gt;", "<img src=x onerror=alert(1)>", "&", "&amp;", "&#60;", "<", ">", '"',
                           "'", "</div>", "<!--", "{{ 7 * 7 }}", "_quote>", "v_quote", "&lt;"])
ARGUMENT_TEXT = st.lists(st.one_of(HTMLISH, st.text(max_size=6)), max_size=14).map("".join)
ALLOWED_TAGS = {'<mark class="verified">', '<mark class="unverified">', "</mark>", '<span class="tag">', "</span>"}


def harness_marks(text: str) -> tuple[int, int]:
    """How many harness quotes open and close in `text`."""
    return (text.count("<v_quote>") + text.count("<u_quote>"), text.count("</v_quote>") + text.count("</u_quote>"))


@settings(max_examples=400, deadline=None)
@given(text=ARGUMENT_TEXT)
def test_render_message_escapes_agent_html(text):
    rendered = str(render_message(text))
    assert "<script" not in rendered.lower()
    tags = re.findall(r"<[^>]*>", rendered)
    assert set(tags) <= ALLOWED_TAGS, "the only markup is the harness's quote highlighting"
    opened, closed = harness_marks(text)
    assert rendered.count("<mark") == opened and rendered.count("</mark>") == closed
    assert html.unescape(re.sub(r"<[^>]*>", "", rendered)) == text, "the page reads exactly what the model reads"


@pytest.fixture
def debate_page(open_trial, scripted_runs, open_client) -> Any:
    """(text of debater_a's first argument) -> the judge's page of a debate item where it says that."""
    db, _ = open_trial([scripted_runs["debate"]], per_judge=1)
    person = invite_judge(db, "dave")
    client = open_client(create_app(db))
    item_id = person.seats[0].item["id"]

    def page_with(argument: str) -> str:
        with db.session() as s:
            item = s.get(Item, item_id)
            saved = dict(item.transcript)
            saved["turns"] = [dict(t) for t in saved["turns"]]
            first = next(t for t in saved["turns"] if t["role"] == "debater_a")
            first["text"] = first["raw"] = argument
            item.transcript = saved
        return client.get(f"/j/{person.token}/0").text

    return page_with


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ARGUMENT_TEXT)
def test_agent_html_in_an_argument_is_escaped_on_the_page(debate_page, text):
    plain = debate_page("an argument with no markup")
    page = debate_page(text)
    assert "an argument with no markup" in plain
    assert page.lower().count("<script") == plain.lower().count("<script") == 1, "only the slider's script runs"
    opened, closed = harness_marks(text)
    assert page.count("<mark") == plain.count("<mark") + opened
    assert page.count("</mark>") == plain.count("</mark>") + closed
    assert str(render_message(text)) in page
    assert set(re.findall(r"<[^>]*>", page)) <= set(re.findall(r"<[^>]*>", plain)) | ALLOWED_TAGS, "no new markup"


def test_known_injections_are_escaped_on_the_page(debate_page):
    page = debate_page('<script>alert("x")</script> <mark class="verified">forged</mark> <img src=x onerror=alert(1)>')
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in page
    assert '&lt;mark class="verified"&gt;forged&lt;/mark&gt;' in page
    assert "<img" not in page and page.count("<script") == 1


def forms_of(client: TestClient, person: Person, position: int) -> str:
    return csrf_of(client.get(f"/j/{person.token}/{position}").text)


def test_forged_form_tokens_are_refused_and_change_nothing(open_trial, scripted_runs, open_client):
    db, _ = open_trial(list(scripted_runs.values()), per_judge=3)
    alice, bob = invite_judge(db, "alice"), invite_judge(db, "bob")
    client = open_client(create_app(db))
    alice_0, alice_1, bob_0 = forms_of(client, alice, 0), forms_of(client, alice, 1), forms_of(client, bob, 0)
    assert len({alice_0, alice_1, bob_0}) == 3
    before = db_snapshot(db)
    forged = {"missing": None, "empty": "", "wrong": "0" * 64, "random": secrets.token_hex(32),
              "another judge's": bob_0, "another item's": alice_1, "truncated": alice_0[:-1],
              "upper-cased": alice_0.upper(), "hash of the judge token": token_hash(alice.token)}
    for action in ("ask", "decide"):
        for what, csrf in forged.items():
            form = {"percent": "70", "question": "why?", "explanation": "forged"}
            if csrf is not None:
                form["csrf"] = csrf
            response = client.post(f"/j/{alice.token}/0/{action}", data=form, follow_redirects=False)
            assert response.status_code == 403, f"{action} with {what} token: {response.status_code}"
            assert "Not allowed" in response.text and "Traceback" not in response.text
    assert db_snapshot(db) == before, "a refused form changes nothing"
    response = client.post(f"/j/{alice.token}/0/decide", data={"percent": "70", "csrf": alice_0},
                           follow_redirects=False)
    assert response.status_code == 303 and len(decisions(db)) == 1, "the judge's own form token decides"


BAD_TOKENS = ("x", secrets.token_urlsafe(24), "' OR '1'='1", "%00", "a" * 5000)


def test_a_wrong_judge_token_is_a_403_page_on_every_route(open_trial, scripted_runs, open_client):
    db, _ = open_trial(list(scripted_runs.values()), per_judge=3)
    alice = invite_judge(db, "alice")
    client = open_client(create_app(db), raise_server_exceptions=False)
    csrf = forms_of(client, alice, 0)
    before = db_snapshot(db)
    stored = token_hash(alice.token)
    near = [alice.token[:-1], alice.token + "x", alice.token.swapcase(), stored, alice.token[::-1]]
    for token in [*BAD_TOKENS, *near]:
        t = quote(token, safe="")
        requests = [("GET", f"/j/{t}", {}), ("GET", f"/j/{t}/0", {}), ("GET", f"/j/{t}/0?error=percent", {}),
                    ("POST", f"/j/{t}/0/ask", {"question": "why?", "csrf": csrf}),
                    ("POST", f"/j/{t}/0/decide", {"percent": "70", "csrf": csrf})]
        for method, path, form in requests:
            response = client.request(method, path, data=form or None, follow_redirects=False)
            where = f"{method} {path[:60]}"
            assert response.status_code == 403, f"{where}: {response.status_code}"
            assert "Not allowed" in response.text and "Traceback" not in response.text, where
            assert alice.token not in response.text and stored not in response.text, where
    assert db_snapshot(db) == before


@pytest.mark.parametrize("position", ["3", "4", "999", "-1", "2147483648", "99999999999999999999", "abc",
                                      "1.5", "%20", "0x1"])
def test_an_unknown_position_is_a_403_page(open_trial, scripted_runs, position, open_client):
    db, _ = open_trial(list(scripted_runs.values()), per_judge=3)
    alice = invite_judge(db, "alice")
    client = open_client(create_app(db), raise_server_exceptions=False)
    csrf = forms_of(client, alice, 0)
    before = db_snapshot(db)
    for method, path, form in [("GET", f"/j/{alice.token}/{position}", None),
                               ("POST", f"/j/{alice.token}/{position}/ask", {"question": "why?", "csrf": csrf}),
                               ("POST", f"/j/{alice.token}/{position}/decide", {"percent": "70", "csrf": csrf})]:
        response = client.request(method, path, data=form, follow_redirects=False)
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        assert "Traceback" not in response.text and '"detail"' not in response.text
    assert db_snapshot(db) == before


def test_admin_status_needs_the_admin_token(open_trial, scripted_runs, open_client):
    db, admin = open_trial(list(scripted_runs.values()), per_judge=3)
    alice = invite_judge(db, "alice")
    client = open_client(create_app(db))
    csrf = forms_of(client, alice, 0)
    client.post(f"/j/{alice.token}/0/decide", data={"percent": "20", "csrf": csrf})
    for header in ({}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer wrong"},
                   {"Authorization": f"Bearer {alice.token}"}, {"Authorization": f"Bearer {token_hash(admin)}"},
                   {"Authorization": f"Bearer {admin[:-1]}"}, {"Authorization": f"Basic {admin}x"}):
        response = client.get("/admin/status", headers=header)
        assert response.status_code == 403, header
        assert "Not allowed" in response.text and "alice" not in response.text and "Traceback" not in response.text
    response = client.get("/admin/status", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    [row] = response.json()
    assert row["judge"] == "alice" and row["assigned"] == 3 and row["decided"] == 1
    assert alice.token not in response.text


def test_tokens_are_stored_hashed(open_trial, scripted_runs, tmp_path, open_client):
    db, admin = open_trial(list(scripted_runs.values()), per_judge=3)
    people = [invite_judge(db, name) for name in NAMES]
    client = open_client(create_app(db))
    for person in people:
        client.post(f"/j/{person.token}/0/decide", data={"percent": "20", "csrf": forms_of(client, person, 0)})
    db.close()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("trial-0.db*"))
    for token in (admin, *(p.token for p in people)):
        assert token.encode() not in stored, "a raw token is in the database file"
        assert token_hash(token).encode() in stored, "its hash is (the search reads the file)"


def decide(client: TestClient, person: Person, position: int, percent: str, explanation: str = "") -> Any:
    csrf = forms_of(client, person, position)
    return client.post(f"/j/{person.token}/{position}/decide",
                       data={"percent": percent, "csrf": csrf, "explanation": explanation}, follow_redirects=False)


def test_a_non_decision_is_refused(open_trial, scripted_runs, open_client):
    db, _ = open_trial(list(scripted_runs.values()), per_judge=3)
    alice = invite_judge(db, "alice")
    client = open_client(create_app(db))
    for percent in ("50", "0", "100", "-1", "101", "", "abc", "12.5", "50.0", "1e1", "NaN", "inf", "0x10", "70%",
                    "½", "9" * 5000):
        response = decide(client, alice, 0, percent)
        assert response.status_code == 303, percent
        assert response.headers["location"] == f"/j/{alice.token}/0?error=percent", percent
        assert decisions(db) == [], f"{percent!r} was stored"
    csrf = forms_of(client, alice, 0)
    response = client.post(f"/j/{alice.token}/0/decide", data={"csrf": csrf}, follow_redirects=False)
    assert response.headers["location"].endswith("?error=percent") and decisions(db) == []
    page = client.get(response.headers["location"]).text
    assert "Move the slider to a probability from 1 to 99 %" in page
    for position, percent in ((0, "1"), (1, "99")):
        assert decide(client, alice, position, percent).headers["location"] == f"/j/{alice.token}"
    assert len(decisions(db)) == 2


def test_a_second_submission_changes_nothing(open_trial, scripted_runs, open_client):
    db, _ = open_trial(list(scripted_runs.values()), per_judge=3)
    alice = invite_judge(db, "alice")
    client = open_client(create_app(db))
    csrf = forms_of(client, alice, 0)
    first = client.post(f"/j/{alice.token}/0/decide", data={"percent": "30", "csrf": csrf, "explanation": "first"})
    assert first.status_code == 200
    before = db_snapshot(db)
    for percent in ("80", "30", "50"):
        response = client.post(f"/j/{alice.token}/0/decide", data={"percent": percent, "csrf": csrf,
                                                                   "explanation": "second"}, follow_redirects=False)
        assert response.status_code == 303
    assert db_snapshot(db) == before
    assert [(p, e) for _, p, e in decisions(db)] == [(pytest.approx(0.3 if alice.seats[0].order == 0 else 0.7),
                                                      "first")]


def test_p_answer1_is_stored_in_the_presented_order_whichever_order_was_shown(open_trial, scripted_runs, open_client):
    db, _ = open_trial(list(scripted_runs.values()), per_judge=6)
    alice = invite_judge(db, "alice")
    client = open_client(create_app(db))
    clicked = {}
    for seat in alice.seats:
        clicked[seat.position] = 10 + 15 * seat.position  # 10, 25, 40, 55, 70, 85: never 50
        assert decide(client, alice, seat.position, str(clicked[seat.position])).status_code == 303
    assert {seat.order for seat in alice.seats} == {0, 1}, "the set shows both answer orders"
    with db.session() as s:
        stored = {a.position: (a.decision.p_answer1, a.decision.transcript) for a in
                  s.scalars(select(Assignment).join(Judge).where(Judge.name == "alice"))}
    for seat in alice.seats:
        shown = clicked[seat.position] / 100
        p_answer1, transcript = stored[seat.position]
        assert p_answer1 == pytest.approx(1 - shown if seat.order else shown)
        assert Transcript.from_dict(transcript).decision.probs == pytest.approx((p_answer1, 1 - p_answer1))
