"""Scripted faults: which request gets which failure, deterministic and changeable at run time."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from routeledger.config import FaultRule, ModelProfile, SimulatorConfig


@dataclass(slots=True)
class _RuleState:
    rule: FaultRule
    matched: int = 0
    hits: int = 0


@dataclass(slots=True)
class FaultPlan:
    """The active rules with their counters; the first matching rule that fires wins."""

    rules: list[_RuleState] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_rules(cls, rules: list[FaultRule], seed: int) -> FaultPlan:
        return cls([_RuleState(r) for r in rules], random.Random(seed))

    def replace(self, rules: list[FaultRule]) -> None:
        with self.lock:
            self.rules = [_RuleState(r) for r in rules]

    def add(self, rules: list[FaultRule]) -> None:
        with self.lock:
            self.rules.extend(_RuleState(r) for r in rules)

    def pick(self, provider: str, model: str, now_s: float) -> FaultRule | None:
        if not self.rules:
            return None
        with self.lock:
            for state in self.rules:
                rule = state.rule
                if rule.provider is not None and rule.provider != provider:
                    continue
                if rule.model is not None and rule.model != model:
                    continue
                if now_s < rule.start_s or (rule.end_s is not None and now_s >= rule.end_s):
                    continue
                if rule.count is not None and state.hits >= rule.count:
                    continue
                state.matched += 1
                if state.matched % rule.every:
                    continue
                if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                    continue
                state.hits += 1
                return rule
        return None

    def snapshot(self) -> list[dict[str, object]]:
        with self.lock:
            return [
                {"rule": s.rule.model_dump(mode="json", exclude_defaults=True), "matched": s.matched, "hits": s.hits}
                for s in self.rules
            ]


def profile_for(config: SimulatorConfig, provider: str, model: str) -> ModelProfile:
    """The most specific profile: `provider/model`, then `provider`, then the default."""
    return config.profiles.get(f"{provider}/{model}") or config.profiles.get(provider) or config.default
