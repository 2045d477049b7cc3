"""The trainer's errors, under the project's one exception tree::

    KasperError
    └── TrainerError                    anything the trainer raises on purpose
        ├── FeedbackError                   a feedback record that cannot be used (dead-letter it)
        │   ├── InvalidFeedbackError            stars out of 1-5, or no rating, stars or comment
        │   └── UnknownInsightError             no approved insight with its id arrived in time
        ├── DatasetError                    window files that cannot be trained on
        │   ├── CorruptDatasetError             a file is missing or its sha256 does not match
        │   └── EmptyWindowError                no training examples (after filters)
        ├── TrainingError                   a training run failed
        │   ├── TrainingDivergedError           the loss became NaN or infinite
        │   └── TrainingInterrupted             stopped on request (checkpoint saved, resumable)
        ├── StateError                      the trainer's state store is unusable
        ├── RegistryError                   a model-version change the registry refuses
        │   ├── UnknownVersionError             no such tier, or no such version of it
        │   └── NothingToRollBackError          the tier already serves the base model
        └── AdapterExportError              an adapter that cannot be written as a llama.cpp GGUF

A ``FeedbackError`` is bad input: the record goes to the DLQ and the trainer
goes on. A ``DatasetError`` or ``TrainingDivergedError`` fails one window: it is
reported (log, metric, a non-promoted ModelVersion for a divergence), the
serving model stays as it is. ``StateError`` stops the worker: dedupe across
restarts cannot be guaranteed without the state store.
"""

from __future__ import annotations

from kasper.schemas.errors import KasperError


class TrainerError(KasperError):
    """Root of the trainer's errors."""


class FeedbackError(TrainerError):
    """A feedback record the trainer cannot use; it is dead-lettered."""


class InvalidFeedbackError(FeedbackError):
    """Stars outside 1-5, or a feedback record that carries no signal at all."""


class UnknownInsightError(FeedbackError):
    """Feedback whose insight never arrived within the wait (or is past retention)."""


class DatasetError(TrainerError):
    """Window files that cannot be trained on."""


class CorruptDatasetError(DatasetError):
    """A dataset file is missing, unreadable, or its sha256/size differs from the manifest."""


class EmptyWindowError(DatasetError):
    """A window without training examples (everything was filtered out)."""


class TrainingError(TrainerError):
    """A training run failed."""


class TrainingDivergedError(TrainingError):
    """The training or validation loss stopped being a finite number."""

    def __init__(self, message: str, *, iteration: int) -> None:
        super().__init__(message)
        self.iteration = iteration

    def __reduce__(self):  # keyword-only arguments: tell pickle how to rebuild
        return _rebuild, (self.args[0], self.iteration)


class TrainingInterrupted(TrainingError):
    """The worker is stopping: a checkpoint was saved and the run resumes next time."""


class StateError(TrainerError):
    """The state store (sqlite) cannot be opened or written."""


class RegistryError(TrainerError):
    """A change of what serves a tier that the registry refuses (``kasper models rollback``)."""


class UnknownVersionError(RegistryError):
    """A tier or version the registry does not have (or a version without weights)."""


class NothingToRollBackError(RegistryError):
    """The tier already serves the base model: there is no earlier model to go back to."""


class AdapterExportError(TrainerError):
    """An adapter directory that cannot be exported as a llama.cpp LoRA GGUF (``export_gguf``)."""


def _rebuild(message: str, iteration: int) -> TrainingDivergedError:
    return TrainingDivergedError(message, iteration=iteration)
