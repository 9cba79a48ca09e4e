"""Dev plugin used by the test suite (loaded with COMFYVN_DEV_MODE=1): job kinds that sleep,
block, fail and report progress, so the job manager can be exercised over HTTP."""

from __future__ import annotations

from comfyvn.core.jobs import JobKind
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "testkit"


@hookimpl
def comfyvn_job_kinds():
    return [
        JobKind("test.sleep", "tests.support.jobkit:sleep", "Cooperative sleep: params seconds, steps."),
        JobKind("test.async_sleep", "tests.support.jobkit:async_sleep", "Async sleep (cancelled for real)."),
        JobKind("test.block", "tests.support.jobkit:block", "Uncooperative sleep in a child process.",
                isolation="process"),
        JobKind("test.fail", "tests.support.jobkit:fail", "Raises an error with a message."),
        JobKind("test.echo", "tests.support.jobkit:echo", "Returns its params and logs a line."),
    ]
