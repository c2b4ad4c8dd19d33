"""webhook_workflow: NocoBase-style webhook-triggered workflows for any Python web app.

The public surface is what ``__all__`` lists; the doors live in :mod:`webhook_workflow.wsgi`
and :mod:`webhook_workflow.asgi`.
"""

from __future__ import annotations

from .engine import Engine
from .errors import (
                     DefinitionError,
                     DefinitionWarning,
                     NotRetryable,
                     RequestRejected,
                     StoreUnavailable,
                     TemplateError,
                     WebhookWorkflowError,
)
from .http.querystring import paths_from_url
from .nodes.custom import NodeContext
from .records import Execution, Job
from .status import Status
from .variables.paths import paths_from_json
from .workflow import Workflow

__all__ = [
    "DefinitionError",
    "DefinitionWarning",
    "Engine",
    "Execution",
    "Job",
    "NodeContext",
    "NotRetryable",
    "RequestRejected",
    "Status",
    "StoreUnavailable",
    "TemplateError",
    "WebhookWorkflowError",
    "Workflow",
    "paths_from_json",
    "paths_from_url",
]

__version__ = "0.1.0"
