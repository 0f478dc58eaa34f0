"""The monitors' exception: bad input to a monitor, a sink or a run reader (a ValueError subclass).

It subclasses ``zpd.core.errors.ZpdError`` (itself a ``ValueError``), so ``except ZpdError``
catches monitor-side mistakes too. It is not a place for other helpers.
"""

from __future__ import annotations

from zpd.core.errors import ZpdError


class MonitorInputError(ZpdError):
    """A rollout batch, monitor setting, context or run log is malformed.

    The message says what is wrong and what to do. Raising it leaves every monitor's state as it
    was before the call.
    """


class SinkUnavailableError(ImportError):
    """A logging sink's optional client (tensorboard, wandb, mlflow) is not installed."""
