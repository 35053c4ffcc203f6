"""The provider simulator: fake OpenAI and Anthropic providers on 127.0.0.1 with scripted faults.

A product feature (demo, drills, benchmarks), not a test double: it speaks both wire protocols,
streams like the real APIs, computes usage deterministically (so a test knows the true token
counts) and keeps a ground-truth log of every request it received.
"""

from routeledger.simulator.server import Simulator, SimulatorThread
from routeledger.tokens import count_input_tokens, count_tokens

__all__ = ["Simulator", "SimulatorThread", "count_input_tokens", "count_tokens"]
