"""Small builders shared by the fast tests."""

from __future__ import annotations

from oversight.types import Question


def make_questions(n: int, context: str | None = None) -> list[Question]:
    return [Question(id=f"q{i}", task="toy", question=f"What is {i} + {i}?",
                     answers=(f"It is {2 * i}.", f"It is {2 * i + 1}."), correct_index=0, context=context)
            for i in range(n)]
