"""The pieces of the personal-data detector (:mod:`kasper.agents.quality.personal_data`)."""
