"""Simulation: one scripted case of a model on Temporal's time-skipping test server, with
activities that record instead of sending, and the calendar of what happened.

- `starter.simulation.scenario`: the scenario (YAML) and its errors;
- `starter.simulation.recorders`: the recording activities;
- `starter.simulation.run`: the driver, `simulate`;
- `starter.simulation.calendar`: the events, the result and its table.
"""

from __future__ import annotations

from starter.simulation.calendar import CalendarEvent, SimulationResult, calendar_table
from starter.simulation.run import simulate
from starter.simulation.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = [
    "CalendarEvent",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "calendar_table",
    "load_scenario",
    "parse_scenario",
    "simulate",
]
