"""``@otelytics.workflow`` / ``with otelytics.workflow("name")``: a run made of steps.

A workflow is a tracked call whose direct tracked children are its steps: each step span
carries ``otelytics.workflow.step`` and its start-order ``otelytics.workflow.step.index``, and
every span inside carries ``otelytics.workflow.name``. Analysis reads step sequences and where
runs fail from these attributes.
"""

from __future__ import annotations

from typing import Any

from otelytics.track import _workflow_tracker

__all__ = ["workflow"]


def workflow(target: Any = None, /, *, name: str | None = None,
             attributes: dict[str, Any] | None = None) -> Any:
    """Decorate a function (``@workflow`` / ``@workflow("name")``) or open a block
    (``with workflow("ingest"):``) whose tracked calls are the steps of one run."""
    return _workflow_tracker(target, name, attributes)
