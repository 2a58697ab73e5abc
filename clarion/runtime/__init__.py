"""The runtime: durable jobs (queue.py), the workers that run them (worker.py), and the
handlers of each job kind, listed here so the composition root can wire them explicitly."""

from __future__ import annotations

import importlib
from collections.abc import Callable

# Job kind -> "module:function". A handler is fn(service, job, progress).
JOB_HANDLERS: dict[str, str] = {
    "import": "clarion.transfer.imports:run_import",
    "export": "clarion.transfer.exports:run_export",
    "campaign_run": "clarion.runtime.campaigns.run:run_campaign",
    "campaign_event": "clarion.runtime.campaigns.event_run:run_trigger",
}


def job_handlers() -> dict[str, Callable]:
    handlers = {}
    for kind, target in JOB_HANDLERS.items():
        module_name, _, function = target.partition(":")
        handlers[kind] = getattr(importlib.import_module(module_name), function)
    return handlers
