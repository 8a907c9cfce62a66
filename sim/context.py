"""Run context: everything a strategy model needs that is shared by all strategies of one run.

The same population, round-trip times and message commits are used for every strategy, so differences in
the results come from the strategies alone. Random streams are derived from the run's seed and a stream
name, so adding a strategy never changes another strategy's numbers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pollbench.scenario import Scenario
from pollbench.strategies import Strategy
from sim.calibration import Calibration
from sim.connections import process_connections
from sim.network import client_rtts
from sim.server import ServiceModel
from sim.tally import Tally
from sim.workload import Deliveries, Population, delivery_pairs, generate_messages

__all__ = ["ENERGY_SAMPLE", "RECORD_CAP", "Progress", "RunContext", "build_context"]

ENERGY_SAMPLE = 200
"""Clients whose radio energy is modelled per strategy (seeded sample)."""
RECORD_CAP = 200_000
"""Per-message delivery records written per strategy; above it every k-th message is recorded."""

Progress = Callable[[float], None]
"""Called with the fraction (0..1) of the current strategy's work done."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """Shared inputs of one simulation run."""

    scenario: Scenario
    """The run's inputs."""
    population: Population
    """Customers, admins and their server processes."""
    calibration: Calibration
    """Service-time, byte and memory constants."""
    service: ServiceModel
    """Service-time sampler (calibrated, or forced deterministic)."""
    rtt_s: npt.NDArray[np.float64]
    """Round-trip time per client, seconds."""
    pairs: Deliveries
    """(message, recipient) pairs in commit order."""
    posts: int
    """Messages committed: each one a POST /api/messages the server handled, whoever receives it."""
    conversation_bytes: float
    """JSON bytes a full GET carries beyond the calibrated body (``Scenario.conversation_messages``)."""
    energy_clients: npt.NDArray[np.int64]
    """Client ids whose radio energy is modelled."""
    seed: int
    """The run's seed."""

    @property
    def duration(self) -> float:
        """Simulated seconds."""
        return self.scenario.duration

    @property
    def visible_delay_s(self) -> float:
        """From a message's commit time (its createdAt) until polls, long-polls and pushes can see it: the
        commit itself (group commit and fsync on the writer thread, ``calibration.commit_ms``)."""
        return self.calibration.commit_ms / 1000.0

    def process_service(self, strategy: Strategy, server: int) -> ServiceModel:
        """The service model of process `server` under `strategy`: scaled by the connections the strategy
        holds there in steady state and by the scenario's CPU quota."""
        connections = process_connections(strategy, self.population, server)
        return self.service.on_process(connections=connections, quota=self.scenario.server_cpu_quota)

    def rng(self, *names: str | int) -> np.random.Generator:
        """An independent random stream named by `names` (stable across runs and strategy sets)."""
        key = [zlib.crc32(str(n).encode()) for n in names]
        return np.random.default_rng([self.seed, *key])

    def new_tally(self, expected_requests: float) -> Tally:
        """An empty tally for one strategy of this run."""
        return Tally(
            duration_s=self.duration,
            servers=self.population.servers,
            clients=self.population.clients,
            energy_clients=self.energy_clients,
            expected_requests=expected_requests,
            record_stride=max(1, -(-len(self.pairs) // RECORD_CAP)),
            memory_per_keepalive_bytes=self.calibration.memory_per_keepalive_bytes,
            memory_per_stream_bytes=self.calibration.memory_per_connection_bytes,
        )


def message_json_bytes(scenario: Scenario, calibration: Calibration) -> float:
    """Mean JSON bytes of one message: ``message_bytes``, or the calibrated fields around one byte of text."""
    return float(max(scenario.message_bytes, calibration.bytes.message_overhead + 1))


def build_context(scenario: Scenario, calibration: Calibration) -> RunContext:
    """Draw the run's population, RTTs and messages from the scenario's seed."""
    seed = scenario.seed
    population = Population.from_scenario(scenario)
    base = np.random.default_rng([seed, zlib.crc32(b"workload")])
    messages = generate_messages(scenario, base, overhead_bytes=calibration.bytes.message_overhead)
    rtt = client_rtts(
        np.random.default_rng([seed, zlib.crc32(b"rtt")]),
        population.clients,
        scenario.rtt_ms,
        scenario.rtt_sigma,
    )
    sample_rng = np.random.default_rng([seed, zlib.crc32(b"energy")])
    sample = np.sort(
        sample_rng.choice(population.customers, size=min(ENERGY_SAMPLE, population.customers), replace=False)
    )
    return RunContext(
        scenario=scenario,
        population=population,
        calibration=calibration,
        service=ServiceModel(calibration=calibration, forced_ms=scenario.service_time_ms),
        rtt_s=rtt,
        pairs=delivery_pairs(messages, population, scenario.audience),
        posts=len(messages),
        conversation_bytes=scenario.conversation_messages * message_json_bytes(scenario, calibration),
        energy_clients=sample.astype(np.int64),
        seed=seed,
    )
