"""tasks/code.py and tasks/code_mutants.py: HumanEval and MBPP pairs verified by running their tests."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oversight.errors import ConfigError
from tasks import load_questions
from oversight.experiments.build import build_task
from tasks.code import HumanEvalTask, MBPPTask, Problem, run_tests, verified_pair
from tasks.code_mutants import OPERATORS, mutants
from oversight.sandbox import code_execution

HUMANEVAL = "humaneval/HumanEval.jsonl.gz"
MBPP = "mbpp/mbpp.jsonl"


@pytest.fixture(scope="module")
def humaneval(data_dir: Path) -> list[Problem]:
    return HumanEvalTask().problems(data_dir / HUMANEVAL, "test")


@pytest.fixture(scope="module")
def mbpp(data_dir: Path) -> list[Problem]:
    return MBPPTask().problems(data_dir / MBPP, "test")


# ------------------------------------------------------------------ mutation operators

SOURCE = '''def f(xs, k):
    """Docstring 1 < 2."""
    if not xs:
        return 0
    total = 0
    for i in range(1, len(xs)):
        if xs[i] > k and xs[i] not in (None, ''):
            total += xs[i] * 2
    return max(total, 0)
'''


def test_every_operator_makes_one_local_edit() -> None:
    found = mutants(SOURCE, start_line=3)
    assert {m.operator for m in found} == set(OPERATORS)
    for m in found:
        assert m.source != SOURCE
        assert m.source.splitlines()[:2] == SOURCE.splitlines()[:2], "the docstring is never touched"
        compile(m.source, "<mutant>", "exec")
        if m.operator != "dropped_branch":
            changed = [(a, b) for a, b in zip(SOURCE.splitlines(), m.source.splitlines(), strict=True) if a != b]
            assert len(changed) == 1, m.detail
    details = {m.detail for m in found}
    assert "line 7: '>' -> '>='" in details and "line 6: '1' -> '2'" in details and "line 6: '1' -> '0'" in details
    assert "line 8: '+=' -> '-='" in details and "line 7: 'and' -> 'or'" in details
    assert "line 7: 'not' removed" in details and "line 9: 'max' -> 'min'" in details
    assert "lines 3-4: `if` statement removed" in details


def test_mutants_are_deterministic_and_ranked() -> None:
    a, b = mutants(SOURCE, 3), mutants(SOURCE, 3)
    assert [m.source for m in a] == [m.source for m in b]
    assert [OPERATORS.index(m.operator) for m in a] == sorted(OPERATORS.index(m.operator) for m in a)


def test_unary_minus_and_star_args_are_not_arithmetic() -> None:
    found = mutants("def g(*args):\n    return -args[0] if True else [*args]\n")
    assert not [m for m in found if m.operator == "arithmetic"]


def test_broken_source_has_no_mutants() -> None:
    assert mutants("def f(:\n") == []


# ------------------------------------------------------------------ verified by execution


@pytest.mark.parametrize("which", ["humaneval", "mbpp"])
def test_pairs_from_real_data_are_verified_by_execution(which: str, request: pytest.FixtureRequest) -> None:
    """A fixed sample of 6 problems: the correct option passes the tests, the incorrect one fails them."""
    problems = request.getfixturevalue(which)
    sample = problems[::len(problems) // 6][:6]
    pairs = [p for p in map(verified_pair, sample) if p is not None]
    assert len(pairs) >= 4
    for pair in pairs:
        assert run_tests(pair.problem, pair.problem.solution).status == "pass"
        failing = run_tests(pair.problem, pair.wrong)
        assert failing.status == "fail", (pair.problem.id, failing)
        assert pair.wrong != pair.problem.solution and pair.meta["mutation"] in OPERATORS


def test_humaneval_question_shows_the_prompt_not_the_tests(humaneval) -> None:
    pair = verified_pair(humaneval[0])
    assert pair is not None
    from tasks.code import pair_question

    q = pair_question(pair, "code", 0)
    assert q.question == humaneval[0].question and "def has_close_elements" in q.question
    assert "check(" not in q.question + q.answers[0] + q.answers[1]
    assert q.answers[0] == humaneval[0].solution and q.correct_index == 0


def test_mbpp_uses_the_evaluation_ids(mbpp) -> None:
    ids = [int(p.id.split("/")[1]) for p in mbpp]
    assert len(mbpp) == 500 and min(ids) == 11 and max(ids) == 510
    assert all("\r" not in p.solution for p in mbpp)


def test_a_canonical_solution_that_fails_is_left_out() -> None:
    broken = Problem(id="x/1", question="add", solution="def add(a, b):\n    return a - b\n", prefix="",
                     tests="assert add(1, 2) == 3")
    assert verified_pair(broken) is None


# ------------------------------------------------------------------ loading: opt-in execution, built files


def test_raw_code_needs_the_flag() -> None:
    for task in ("code", "code-mbpp"):
        with pytest.raises(ConfigError, match=r"--allow-code-exec.*tasks build " + task):
            load_questions(task, limit=1)


def test_raw_code_loads_with_execution_allowed(data_dir: Path, tmp_path: Path) -> None:
    with gzip.open(data_dir / HUMANEVAL, "rt") as f:
        rows = [json.loads(line) for line in f][:4]
    small = tmp_path / "HumanEval.jsonl.gz"
    small.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    with code_execution():
        qs = load_questions("code", data=small)
    assert 3 <= len(qs) <= 4 and all(q.task == "code" and q.answers[0] != q.answers[1] for q in qs)


def test_build_then_load_without_execution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "code.jsonl"
    with code_execution():
        report = build_task("code-mbpp", out=out, limit=4, seed=1)
    assert report.problems == 4 and report.written == report.counts["verified"] >= 2
    monkeypatch.setattr("oversight.sandbox.run_python", lambda *a, **k: pytest.fail("loading must not execute"))
    qs = load_questions("code-mbpp", data=out)
    assert len(qs) == report.written and all(q.id.startswith("mbpp/") for q in qs)
    with pytest.raises(Exception, match="--task code-mbpp"):
        load_questions("code", data=out)


def test_the_cli_lists_tasks_and_gates_the_build(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "oversight.cli", *args], capture_output=True, text=True,
                              env=env, timeout=300, check=False)

    listing = cli("tasks")
    assert listing.returncode == 0 and "code-mbpp" in listing.stdout and "math-prose" in listing.stdout
    refused = cli("tasks", "build", "code", "--out", str(tmp_path / "c.jsonl"), "--limit", "1")
    assert refused.returncode == 2 and "--allow-code-exec" in refused.stderr
    assert not (tmp_path / "c.jsonl").exists()
    built = cli("tasks", "build", "code", "--out", str(tmp_path / "c.jsonl"), "--limit", "2", "--allow-code-exec")
    assert built.returncode == 0 and "wrote" in built.stdout, built.stderr
    ran = cli("run", "direct", "--task", "code", "--data", str(tmp_path / "c.jsonl"), "--judge", "scripted:first",
              "--out", str(tmp_path / "runs"))
    assert ran.returncode == 0, ran.stderr


@pytest.mark.slow
def test_debate_on_code_with_embedded_models(tmp_path: Path, vllm_judge, vllm_agent) -> None:
    from oversight.config import make_config
    from oversight.experiments.run import run_experiment

    data = tmp_path / "code.jsonl"
    with code_execution():
        assert build_task("code", out=data, limit=1, seed=0).written == 1
    config = make_config(protocol="debate", task="code", data=str(data), limit=1, rounds=1, max_tokens=24,
                         order="fixed", out=str(tmp_path / "runs"))
    report = run_experiment(config, models={"judge": vllm_judge, "debater": vllm_agent})
    row = report.results.iloc[0]
    assert len(report.results) == 1 and row["task"] == "code"
    assert abs(row["p_answer1"] + row["p_answer2"] - 1) < 1e-6
    line = json.loads((report.path / "transcripts.jsonl").read_text().splitlines()[0])
    transcript = line.get("transcript", line)  # the episode, with or without the store's envelope
    answers = transcript["question"]["answers"]
    assert answers[0] != answers[1] and "check(" not in answers[0] + answers[1]
    assert len([t for t in transcript["turns"] if t["role"].startswith("debater")]) == 2


def test_a_problem_is_verified_once_per_process(monkeypatch):
    import tasks.code as code

    calls = []
    monkeypatch.setattr(code, "_verified", {})
    monkeypatch.setattr(code, "verified_pair", lambda problem: calls.append(problem.id) or None)
    problems = [Problem(id=f"p{i}", question="q", solution="pass", prefix="", tests="") for i in range(3)]
    assert code.verify_all(problems) == [] and code.verify_all(problems[:2] + problems) == []
    assert sorted(calls) == ["p0", "p1", "p2"]  # the second load (another cell of a sweep) ran nothing
