"""Workflows: chains, groups, chords and dependencies (docs/workflows.md).

from taskqueue.workflows import chain, chord, group, workflow
"""

from .canvas import Signature, chain, chord, group
from .handle import WorkflowHandle
from .submit import workflow

__all__ = ["Signature", "WorkflowHandle", "chain", "chord", "group", "workflow"]
