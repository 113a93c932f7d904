"""The engine batches every pending request of every live episode into one call per model."""

from __future__ import annotations

import pytest

from oversight.engine import Engine
from oversight.errors import ConfigError
from oversight.models.scripted import ScriptedBackend
from protocols.debate import Debate
from protocols.direct import DirectQA
from tests.helpers import make_questions


def test_one_round_debate_over_16_questions_is_one_call_per_turn_and_one_judge_call():
    debater, judge = ScriptedBackend("echo"), ScriptedBackend("first")
    engine = Engine({"debater": debater, "judge": judge})
    protocol = Debate(rounds=1)
    done = engine.run((q.id, protocol.run(q)) for q in make_questions(16))

    assert len(done) == 16
    # Both debaters share one model, so their simultaneous turns go out together: one generate call.
    assert [(c.kind, c.size) for c in debater.calls] == [("generate", 32)]
    assert sorted(debater.calls[0].roles) == ["debater_a"] * 16 + ["debater_b"] * 16
    assert [(c.kind, c.size) for c in judge.calls] == [("choice", 32)]  # every decision in both label orders
    assert engine.stats.calls == 2 and engine.stats.requests == 64


def test_distinct_debater_models_get_one_call_each_per_round():
    a, b, judge = ScriptedBackend("echo"), ScriptedBackend("echo"), ScriptedBackend("first")
    engine = Engine({"debater_a": a, "debater_b": b, "judge": judge})
    engine.run((q.id, Debate(rounds=3).run(q)) for q in make_questions(16))
    assert [(c.kind, c.roles) for c in a.calls] == [("generate", ("debater_a",) * 16)] * 3
    assert [(c.kind, c.roles) for c in b.calls] == [("generate", ("debater_b",) * 16)] * 3
    assert [c.size for c in judge.calls] == [32]


def test_protocols_of_different_lengths_share_batches_until_they_finish():
    judge, debater = ScriptedBackend("first"), ScriptedBackend("echo")
    engine = Engine({"judge": judge, "debater": debater})
    questions = make_questions(4)
    episodes = [(f"direct/{q.id}", DirectQA().run(q)) for q in questions]
    episodes += [(f"debate/{q.id}", Debate(rounds=2).run(q)) for q in questions]
    finished = []
    done = engine.run(episodes, on_finish=lambda key, t: finished.append(key))
    assert len(done) == 8
    # The four direct episodes finish on the first judge call, the debates after two rounds.
    assert finished[:4] == [f"direct/{q.id}" for q in questions]
    assert [(c.kind, c.size) for c in judge.calls] == [("choice", 8), ("choice", 8)]
    assert [c.size for c in debater.calls] == [8, 8]


def test_missing_role_model_is_a_config_error():
    engine = Engine({"judge": ScriptedBackend("first")})
    with pytest.raises(ConfigError, match="no model assigned to role 'debater_a'"):
        engine.run([("q0", Debate(rounds=1).run(make_questions(1)[0]))])
