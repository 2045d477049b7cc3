"""kasper.trainer: approved insights and user feedback -> retraining windows -> LoRA -> model versions.

Modules (small, one job each; the docstring of each states its error policy):

- :mod:`.dataset`      a window's files as a pure function of its source records
- :mod:`.windows`      open windows per tier, joins, close triggers, committable offsets
- :mod:`.state`        the sqlite state store (dedupe across restarts, feedback joins)
- :mod:`.files`        atomic window directories, sha256 checks, the TrainingWindow event
- :mod:`.window_loop`  Kafka: approved + feedback -> windows (crash analysis in its docstring)
- :mod:`.lora`         LoRA through mlx-lm's tuner API: resumable, NaN detection, metrics
- :mod:`.eval_set`     the persistent evaluation set: shipped golden set + past windows' held-out store
- :mod:`.bootstrap`    paired bootstrap interval of a relative improvement
- :mod:`.evaluate`     paired per-example evaluation on that set, the promotion decision
- :mod:`.probes`       the golden prompts every candidate answers greedily
- :mod:`.adapters`     adapter versions on disk and which one serves each tier
- :mod:`.pipeline`     one window -> one recorded version (shared by the loop and the CLI)
- :mod:`.train_loop`   Kafka: TrainingWindow -> train -> ModelVersion
- :mod:`.agent`        the ``train`` role of ``kasper worker`` (thin Faust wiring)
- :mod:`.commands`     functions behind ``kasper train``, ``kasper models list``, replay
- :mod:`.config`       the trainer's per-tier config, derived from ``settings.trainer``
- :mod:`.kafka_io`     the trainer's group consumers
- :mod:`.synthetic_records` deterministic approved/feedback records for tests and benchmarks
- :mod:`.rebuild`      rebuild a window from its offsets and compare sha256s
- :mod:`.export_gguf`  an adapter as a llama.cpp LoRA GGUF (for llama-server)

Importing this package has no side effects; modules that train import
``kasper.agents.runtime.blas`` first (OpenBLAS before mlx).
"""
