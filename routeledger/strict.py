"""The base of every configuration model: strict and immutable.

Why strict: a typo in a gateway config (`max_atempts`) silently falls back to a default and the first
sign of it is an invoice. Every section of `routeledger.yaml` derives from `StrictModel`, wherever
its module lives (config, guardrails, analytics, pricing), so one rule holds for the whole file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
