"""``assert_execution``: an execution against what a test expects, every difference said."""

from __future__ import annotations

import pprint
from collections.abc import Mapping
from typing import Any

from ..records import Execution, Job
from ..status import Status, execution_status_name, status_from_value, status_name
from .client import UNSET, WebhookResponse

__all__ = ["assert_execution"]

def assert_execution(execution: Execution | WebhookResponse | None,
                     status: Status | int | str | None = None, *,
                     nodes: Mapping[str, Status | int | str | None] | None = None,
                     results: Mapping[str, Any] | None = None,
                     output: Any = UNSET) -> Execution:
    """Check an execution (or the one a :class:`WebhookResponse` started); return it.

    ``status`` is the execution's (a :class:`Status`, its number or its name, ``"queued"``
    for one not started yet); ``nodes`` maps node keys to their job's status (``None``: the
    node did not run); ``results`` maps node keys to their job's result; ``output`` is
    ``execution.output``. A node that ran several times (a loop, retries) is judged by its
    last job. Anything left out is not checked. On a mismatch it raises ``AssertionError``
    listing every difference, expected against actual, and the jobs that ran.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function's
    if isinstance(execution, WebhookResponse):
        execution = execution.execution
    if execution is None:
        raise AssertionError("no execution: the request was refused, filtered out or answered "
                             "from an earlier delivery, or the store no longer keeps it")
    last: dict[str, Job] = {job.node_key: job for job in execution.jobs}
    problems: list[str] = []
    if status is not None:
        want = _execution_status(status)
        if want != execution.status:
            reason = f" (reason {execution.reason})" if execution.reason else ""
            problems.append(f"status: expected {execution_status_name(want)}, got "
                            f"{execution_status_name(execution.status)}{reason}")
    for key, expected in (nodes or {}).items():
        job = last.get(key)
        if expected is None:
            if job is not None:
                problems.append(f"node {key!r}: expected not to run, got "
                                f"{status_name(job.status)}")
            continue
        number = _job_status(expected)
        if job is None:
            problems.append(f"node {key!r}: expected {status_name(number)}, did not run")
        elif int(job.status) != number:
            problems.append(f"node {key!r}: expected {status_name(number)}, got "
                            f"{status_name(job.status)}{_log_line(job)}")
    for key, expected in (results or {}).items():
        job = last.get(key)
        if job is None:
            problems.append(f"result of {key!r}: expected {expected!r}, the node did not run")
        elif job.result != expected:
            problems.append(_differ(f"result of {key!r}", expected, job.result))
    if output is not UNSET and execution.output != output:
        problems.append(_differ("output", output, execution.output))
    if problems:
        raise AssertionError(_report(execution, problems))
    return execution


def _execution_status(value: Status | int | str) -> Status | None:
    if isinstance(value, str) and value.strip().upper() == "QUEUED":
        return None
    status = status_from_value(value)
    return Status.STARTED if status == Status.PENDING else status


def _job_status(value: Status | int | str) -> int:
    # A custom node may end its job with its own number (100, -100): compare numbers as given.
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return int(status_from_value(value))


def _log_line(job: Job) -> str:
    lines = [line for line in (job.log or "").strip().splitlines() if line.strip()]
    return f": {lines[-1].strip()[:200]}" if lines else ""


def _differ(what: str, expected: Any, actual: Any) -> str:
    wanted, got = pprint.pformat(expected, width=80), pprint.pformat(actual, width=80)
    if "\n" not in wanted and "\n" not in got:
        return f"{what}: expected {wanted}, got {got}"
    import difflib  # only for values too large for one line

    diff = difflib.unified_diff(wanted.splitlines(), got.splitlines(), "expected", "actual",
                                lineterm="")
    return f"{what} differs:\n" + "\n".join("      " + line for line in diff)


def _report(execution: Execution, problems: list[str]) -> str:
    lines = [f"execution {execution.id} of {execution.workflow_key!r} "
             f"({execution_status_name(execution.status)}) does not match:"]
    lines += [f"  - {problem}" for problem in problems]
    lines.append("  jobs, in order:" if execution.jobs else "  no job ran")
    width = max((len(job.node_key) for job in execution.jobs), default=0)
    for job in execution.jobs:
        result = repr(job.result)
        result = result if len(result) <= 60 else result[:57] + "..."
        lines.append(f"    {job.node_key:<{width}}  {status_name(job.status):<9} {result}")
    return "\n".join(lines)
