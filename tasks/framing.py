"""Answer order: which of the two answers the judge sees first.

Tasks yield the correct answer at index 0; without framing the judge could learn "always pick 1".
`apply_order` fixes the order per question:

- `random`: each question is swapped or not by a coin that depends only on (seed, task, question id):
  a SHA-256 of those, not a shared RNG stream, so adding or removing questions never flips the others
  and the result does not depend on the order of the input. Each order has probability 1/2.
- `both`: every question twice, as loaded (meta["order"] = 0) then swapped (meta["order"] = 1), next
  to each other: exactly balanced, and the pair shares its id (the study's "both orders" runs).
- `fixed`: as loaded (correct answer first). For debugging only; it is maximally biased.

`meta["order"]` (0 as loaded, 1 swapped) and `meta["swapped"]` are set in `random` and `both` modes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

from oversight.errors import ConfigError
from oversight.types import Question

ORDERS = ("random", "both", "fixed")


def coin(seed: int, question: Question) -> bool:
    """True when `question` is swapped under `order="random"` with this seed."""
    digest = hashlib.sha256(f"order\0{seed}\0{question.task}\0{question.id}".encode()).digest()
    return bool(digest[0] & 1)


def _with_order(question: Question, order: int) -> Question:
    q = question.swapped() if order else question
    swapped = bool(q.meta.get("swapped", False))
    return dataclasses.replace(q, meta={**q.meta, "order": order, "swapped": swapped})


def apply_order(questions: Iterable[Question], order: str, seed: int) -> list[Question]:
    """Questions in the answer order `order` (`random`, `both` or `fixed`)."""
    if order not in ORDERS:
        raise ConfigError(f"unknown answer order {order!r}; choose one of: {', '.join(ORDERS)}")
    qs = list(questions)
    if order == "fixed":
        return qs
    if order == "both":
        return [_with_order(q, o) for q in qs for o in (0, 1)]
    return [_with_order(q, int(coin(seed, q))) for q in qs]
