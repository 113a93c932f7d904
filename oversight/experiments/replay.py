"""Replay a saved transcript through its protocol's own code, each request the transcript holds answered from it.

A transcript stores what was said, not the requests that asked for it. `replay_episode` drives the protocol's
generator for the saved episode (`Protocol.episodes`) and answers from the transcript:

- agent turns (`Protocol.speak`) are the saved turns, as they were (best-of-N choices and retries included: no
  candidate is re-scored, no turn regenerated); each is handed to the caller's `on_turn` with its Speech (the
  exact prompt the agent answered, and the side it argued);
- the consultancy judge's questions are the saved judge turns, and an open protocol's agent choice is its saved
  `agent_probs` (and whether it was valid: an invalid choice replays to the same seeded side);
- the final decision (`Protocol.decide`) is what the transcript does not answer: its steps are yielded to the
  caller, which sends a judge's replies (re-judging) or stops there (rebuilding the agents' prompts).

Every agent turn comes before the decision, and later turns see the saved earlier ones, so each prompt is the
one the agent got when the options are its run's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from oversight.errors import DataError
from oversight.types import Episode, Reply, Request, Transcript, Turn
from protocols.base import Protocol, Speech

OnTurn = Callable[[Speech, Turn], None]
"""Called with each agent turn of the replay: the Speech the protocol asked for, and the saved Turn answering it."""


class OtherEpisode(DataError):
    """The transcript's agents argued other sides than this episode's: it belongs to another episode variant."""


class _SidesAgree(Exception):
    """Stops a probe replay at its first agent turn, whose sides agree with the transcript's."""


def variant_of(key: str) -> str:
    """The protocol's episode variant in an episode key `<question id>#<order>[/<variant>]`."""
    return key.rpartition("#")[2].partition("/")[2]


def _where(saved: Transcript) -> str:
    return f"episode of question {saved.question.id!r} ({saved.protocol})"


def _more_turns(saved: Transcript, role: str, detail: str) -> DataError:
    return DataError(f"{_where(saved)}: the protocol asks role {role!r} for more turns than the transcript holds "
                     f"({detail}); replay it with the protocol options of its run (config.yaml: rounds, turns)")


def saved_turn(saved: Transcript, speech: Speech, round_: int) -> Turn:
    """The saved turn answering `speech` in round `round_`: one per role and round, arguing the speech's side."""
    match = [t for t in saved.turns
             if t.role == speech.role and t.round == round_ and t.meta.get("kind") != "reasoning"]
    if not match:
        raise _more_turns(saved, speech.role, f"none in round {round_}")
    if len(match) > 1:
        raise DataError(f"{_where(saved)}: the saved transcript has {len(match)} turns of {speech.role} in round "
                        f"{round_}, expected 1: it was not written by this protocol")
    assigned = saved.assignment.get(speech.role)
    if assigned is not None and assigned != speech.side:
        raise OtherEpisode(f"{_where(saved)}: {speech.role} argues answer {speech.side + 1} in this episode and "
                           f"answer {assigned + 1} in the saved transcript; it is another episode of the question")
    return match[0]


class _Replayed:
    """Mixed in front of a protocol class: agent turns come from `saved`; `deciding` once the decision starts."""

    saved: Transcript
    on_turn: OnTurn | None
    deciding: bool

    def speak(self, question: Any, speeches: list[Speech], round_: int) -> Any:
        turns = [saved_turn(self.saved, speech, round_) for speech in speeches]
        if self.on_turn is not None:
            for speech, turn in zip(speeches, turns):
                self.on_turn(speech, turn)
        return turns
        yield  # a generator that asks for nothing

    def decide(self, template: str, question: Any, **variables: object) -> Any:
        self.deciding = True
        return (yield from super().decide(template, question, **variables))  # type: ignore[misc]


def _replaying(protocol: Protocol, saved: Transcript, on_turn: OnTurn | None) -> Protocol:
    cls = type(protocol)
    replayed = type(f"Replayed{cls.__name__}", (_Replayed, cls), {})(protocol.options)
    replayed.saved, replayed.on_turn, replayed.deciding = saved, on_turn, False
    return replayed


def replay_episode(protocol: Protocol, saved: Transcript, variant: str | None = None,
                   on_turn: OnTurn | None = None) -> Episode:
    """The episode `saved` records, replayed through `protocol` (built with the options of its run): it yields only
    the steps of the final decision and returns the replayed transcript (module docstring).

    `variant` names the episode among its question's (`Protocol.episodes`; `variant_of` its key). None: the episode
    whose agents argue the sides `saved.assignment` gives them (consultancy plays each side as its own episode).
    """
    replayed = _replaying(protocol, saved, on_turn)
    episodes = dict(replayed.episodes(saved.question))
    if variant is None:
        variant = _variant(protocol, saved, list(episodes))
    if variant not in episodes:
        raise DataError(f"episode variant {variant!r} is not one {protocol.name} plays; the transcript "
                        "does not match its config.yaml")
    inner = episodes[variant]
    judge_turns = deque(t for t in saved.turns if t.role == "judge" and t.meta.get("kind") != "reasoning")
    replies = None
    while True:
        try:
            step = next(inner) if replies is None else inner.send(replies)
        except StopIteration as stop:
            transcript = stop.value
            if transcript.meta.get("agent_choice") != saved.meta.get("agent_choice"):
                raise DataError(f"the agent's choice in {saved.question.id} does not replay to the saved one "
                                f"({saved.meta.get('agent_choice')}); the transcript does not match its config.yaml")
            return transcript
        if replayed.deciding:
            replies = yield step
        else:
            replies = [_saved_reply(request, judge_turns, saved) for request in step]


def _variant(protocol: Protocol, saved: Transcript, variants: list[str]) -> str:
    """The variant whose first agent turns argue the sides `saved` assigns (probed up to those turns)."""
    if len(variants) == 1:
        return variants[0]
    for variant in variants:
        probe = replay_episode(protocol, saved, variant, on_turn=_stop_at_first_turn)
        try:
            next(probe)
        except _SidesAgree:
            return variant
        except OtherEpisode:
            continue
        except StopIteration:
            return variant
        probe.close()
        return variant  # the decision came first: no agent turn tells the variants apart
    raise DataError(f"{_where(saved)}: none of the protocol's episodes ({', '.join(map(repr, variants))}) has its "
                    f"agents argue the sides the transcript assigns ({saved.assignment})")


def _stop_at_first_turn(speech: Speech, turn: Turn) -> None:
    raise _SidesAgree


def _saved_reply(request: Request, judge_turns: deque[Turn], saved: Transcript) -> Reply:
    """The reply to a request before the decision, from the saved transcript."""
    if request.kind == "generate" and request.role == "judge":
        if not judge_turns:
            raise _more_turns(saved, "judge", "no question left")
        turn = judge_turns.popleft()
        return Reply(text=turn.raw or turn.text)
    if request.kind == "choice" and request.role != "judge" and saved.meta.get("agent_probs"):
        # An invalid choice is marked so again (its probabilities may still have an argmax), so the protocol
        # draws the same seeded side instead of reading one from them.
        valid = saved.meta.get("agent_choice_valid", True)
        return Reply(option_probs=tuple(saved.meta["agent_probs"]), option_mass=1.0,
                     top_is_option=None if valid else False)
    raise DataError(f"{_where(saved)}: cannot replay a {request.kind} request of {request.role} from the saved "
                    "transcript; replaying needs the transcript this protocol wrote")
