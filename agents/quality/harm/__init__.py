"""The harm gates' rules, split by gate, and the engine that runs them.

Entry point: :mod:`kasper.agents.quality.directives`."""
