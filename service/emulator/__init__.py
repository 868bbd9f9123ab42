"""A local emulator of the Databricks Jobs API, faithful enough for the official SDK."""

from service.emulator.app import create_emulator_app, emulator_state
from service.emulator.clock import EmulatorClock, ManualClock, ScaledClock
from service.emulator.faults import ConnectionDropped, FaultRule
from service.emulator.scenario import Scenario, load_scenario
from service.emulator.workspace import Emulator

__all__ = [
    "ConnectionDropped",
    "Emulator",
    "EmulatorClock",
    "FaultRule",
    "ManualClock",
    "ScaledClock",
    "Scenario",
    "create_emulator_app",
    "emulator_state",
    "load_scenario",
]
