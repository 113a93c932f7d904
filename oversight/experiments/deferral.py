"""Deferral rules of a judge cascade: which episodes a cheap judge hands to the next, stronger one.

Every rule gives each episode a *deferral score* (higher: defer sooner) computed from the cheap
judge's results row and the saved transcript, and defers the episodes whose score is above a
threshold. An episode whose cheap decision is invalid is always deferred (there is no verdict to keep).
An order-debiased decision (the default) is read as the episode's: its averaged probabilities, and its label
mass, the mean of the two orders'. So a judge that only prefers a label position ties on every episode: its
decisions are invalid and all deferred.

- `confidence`: score = 1 - max(P(answer 1), P(answer 2)), i.e. defer when the judge's confidence is
  below `threshold` (Jitkrittum et al. 2023, "When does confidence-based cascade deferral suffice?",
  arXiv 2307.02764: optimal when the cheap judge's confidence is calibrated and the stronger judge is
  better everywhere; it fails when the stronger judge is not, or when labels are noisy).
- `entropy`: score = the entropy (nats) of the judge's answer token over {label 1, label 2, anything
  else}, using the probability mass it put off the labels (`judge_mass`): token-level uncertainty,
  which sees a judge that wanted to say something other than a label.
- `learned`: a post-hoc deferral rule (Gupta et al. 2024, "Language model cascades: token-level
  uncertainty and beyond", arXiv 2404.10136): an L2-regularised logistic regression on the features
  below, fitted on a calibration split of the questions only, scoring P(deferring helps). Its target
  is `error` (the cheap judge is wrong) or `gain` (the cheap judge is wrong and the next judge right,
  which needs the next judge's decisions on the calibration split).

A `budget` (fraction of episodes to defer) instead of a `threshold` sets the threshold at that
quantile of the calibration split's scores. The calibration split is a seeded sample of *questions*,
so both answer orders of a question fall on the same side and nothing of the test questions is seen.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from oversight.errors import ConfigError

RULES = ("confidence", "entropy", "learned")
FEATURES = ("p_max", "margin", "entropy", "log_mass", "transcript_words", "reasoning_words", "quotes",
            "verified_quotes", "invalid_turns")


def features(results: pd.DataFrame, transcripts: dict[str, dict] | None = None) -> pd.DataFrame:
    """The deferral features of each episode (indexed by `episode`) from a judge's results rows.

    `transcripts` (episode key -> saved transcript dict) adds the transcript's length in words of agent
    turns and of the judge's own reasoning; without it those features are 0.
    """
    frame = results.set_index("episode")
    p1, p2 = frame["p_answer1"].astype(float), frame["p_answer2"].astype(float)
    mass = (frame["judge_mass"].astype(float).fillna(1.0).clip(1e-12, 1.0) if "judge_mass" in frame
            else pd.Series(1.0, index=frame.index))
    out = pd.DataFrame(index=frame.index)
    out["p_max"] = np.maximum(p1, p2)
    out["margin"] = (p1 - p2).abs()
    parts = [p1 * mass, p2 * mass, 1.0 - mass]
    out["entropy"] = -sum(np.where(q > 0, q * np.log(q.clip(lower=1e-300)), 0.0) for q in map(pd.Series, parts))
    out["log_mass"] = np.log(mass)
    words = {key: _words(t) for key, t in (transcripts or {}).items()}
    out["transcript_words"] = [words.get(key, (0, 0))[0] for key in out.index]
    out["reasoning_words"] = [words.get(key, (0, 0))[1] for key in out.index]
    for name in ("quotes", "verified_quotes", "invalid_turns"):
        out[name] = frame[name].astype(float).fillna(0.0) if name in frame else 0.0
    out["invalid"] = frame["invalid"].astype(bool)
    return out.fillna({"p_max": 0.5, "margin": 0.0, "entropy": math.log(3)})


def _words(transcript: dict) -> tuple[int, int]:
    agent = reasoning = 0
    for turn in transcript.get("turns", []):
        n = len(str(turn.get("text", "")).split())
        if turn.get("meta", {}).get("kind") == "reasoning":
            reasoning += n
        elif turn.get("role") != "judge":
            agent += n
    return agent, reasoning


def calibration_questions(question_ids: pd.Series, fraction: float, seed: int) -> set[str]:
    """A seeded sample of `fraction` of the distinct question ids (at least one, never all)."""
    ids = sorted(set(map(str, question_ids)))
    if len(ids) < 2:
        raise ConfigError(f"a calibration split needs at least 2 questions, the run has {len(ids)}")
    n = min(max(1, round(fraction * len(ids))), len(ids) - 1)
    rng = np.random.default_rng(seed)
    return set(rng.choice(ids, size=n, replace=False).tolist())


@dataclass
class LogisticModel:
    """Standardised L2 logistic regression, fitted by L-BFGS (scipy)."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(cls, x: pd.DataFrame, y: np.ndarray, l2: float = 1.0) -> LogisticModel:
        values = x.to_numpy(float)
        mean, scale = values.mean(0), values.std(0)
        scale[scale == 0] = 1.0
        z = (values - mean) / scale
        y = np.asarray(y, float)

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            logits = z @ w[1:] + w[0]
            p = 1.0 / (1.0 + np.exp(-logits))
            nll = np.sum(np.logaddexp(0.0, logits) - y * logits) + 0.5 * l2 * w[1:] @ w[1:]
            grad = np.concatenate([[np.sum(p - y)], z.T @ (p - y) + l2 * w[1:]])
            return float(nll), grad

        w = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B").x
        return cls(tuple(x.columns), mean, scale, w[1:], float(w[0]))

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        z = (x[list(self.names)].to_numpy(float) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))

    def to_dict(self) -> dict:
        return {"features": list(self.names), "intercept": self.intercept,
                "coefficients": dict(zip(self.names, self.coef.round(6).tolist()))}


@dataclass
class DeferralRule:
    """One rule and its threshold (see the module docstring); `fit` before `defer` for learned rules."""

    kind: Literal["confidence", "entropy", "learned"] = "confidence"
    threshold: float | None = None
    """confidence: defer below this max probability; entropy: above this many nats; learned: above this P."""
    budget: float | None = None
    """Fraction of episodes to defer instead of a threshold (set on the calibration split)."""
    target: Literal["error", "gain"] = "error"
    features: tuple[str, ...] = FEATURES
    model: LogisticModel | None = field(default=None, repr=False)
    cutoff: float | None = None
    """The score above which episodes are deferred (from `threshold`, or `budget` once fitted)."""

    def __post_init__(self) -> None:
        if self.kind not in RULES:
            raise ConfigError(f"unknown deferral rule {self.kind!r}; choose one of {', '.join(RULES)}")
        if (self.threshold is None) == (self.budget is None):
            raise ConfigError("give a deferral rule either a threshold or a budget (fraction to defer), not both")
        if self.budget is not None and not 0 <= self.budget <= 1:
            raise ConfigError(f"deferral budget is a fraction of episodes in [0, 1], got {self.budget}")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ConfigError(f"unknown deferral feature(s) {sorted(unknown)}; features: {', '.join(FEATURES)}")
        if self.threshold is not None and self.kind != "learned":
            self.cutoff = -self.threshold if self.kind == "confidence" else self.threshold
        elif self.threshold is not None:
            self.cutoff = self.threshold

    @property
    def needs_calibration(self) -> bool:
        return self.kind == "learned" or self.budget is not None

    def raw_scores(self, feats: pd.DataFrame) -> np.ndarray:
        """Higher: defer sooner. Invalid cheap decisions get +inf (always deferred)."""
        if self.kind == "confidence":
            scores = -feats["p_max"].to_numpy(float)
        elif self.kind == "entropy":
            scores = feats["entropy"].to_numpy(float)
        else:
            if self.model is None:
                raise ConfigError("a learned deferral rule must be fitted on a calibration split first")
            scores = self.model.predict(feats)
        return np.where(feats["invalid"].to_numpy(bool), np.inf, scores)

    def fit(self, feats: pd.DataFrame, target: np.ndarray | None) -> DeferralRule:
        """Fit on the calibration split's features (and, for learned rules, its target labels)."""
        if self.kind == "learned":
            if target is None:
                raise ConfigError("a learned deferral rule needs target labels on the calibration split")
            if len(set(np.asarray(target, bool).tolist())) < 2:
                raise ConfigError("the calibration split has a single target class: a learned deferral rule "
                                  "cannot be fitted; use more questions or a larger --calibration fraction")
            self.model = LogisticModel.fit(feats[list(self.features)], np.asarray(target, float))
        if self.budget is not None:
            scores = self.raw_scores(feats)
            finite = scores[np.isfinite(scores)]
            self.cutoff = float(np.quantile(finite, 1 - self.budget)) if len(finite) and self.budget < 1 else -np.inf
        return self

    def defer(self, feats: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the episodes to defer."""
        if self.cutoff is None:
            raise ConfigError("the deferral rule has no threshold yet: fit it on a calibration split")
        scores = self.raw_scores(feats)
        return (scores > self.cutoff) | np.isposinf(scores)

    def describe(self) -> dict:
        out = {"rule": self.kind, "threshold": self.threshold, "budget": self.budget, "cutoff": self.cutoff}
        if self.kind == "learned":
            out["target"] = self.target
            out["model"] = self.model.to_dict() if self.model is not None else None
        return json.loads(json.dumps(out, default=float))
