"""`stitchtime batch --engine ray`: one Ray task per file, on this machine or a Ray cluster.

The driver only schedules: each task runs the same per-file worker as a local batch
(:func:`pipelines.batch._edit_one`), which claims its file (``stitchtime.io.claims``: owner pid
and host, heartbeat), edits it and records its state on the shared output folder. So a file is
edited by exactly one task wherever it runs, a task whose worker dies is retried by Ray
(``max_retries``; a bad input is a failed result, not a retry), and a rerun after any kill skips
what is finished. A cluster needs the same input and output paths on every node and stitchtime
installed there. Ray is imported only here.
"""

from __future__ import annotations

import os
from typing import Callable

from pipelines.batch import BatchJob, FileResult, _edit_one

RETRIES = 2  # Ray re-runs a task whose worker process died this many times
CPUS_PER_FILE = 1  # Ray CPUs each file's task asks for (torch runs that many threads in it)


def run_on_ray(
    todo: list[tuple[str, str, str, BatchJob]],
    address: str | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Edit every ``(src, out, state, job)`` of ``todo`` as a Ray task; joins the cluster at
    ``address`` ("auto", "HOST:PORT"), or starts a local Ray with this machine's cores for the run."""
    import ray

    started = not ray.is_initialized()
    if started:
        common = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, **common)
    try:
        task = ray.remote(num_cpus=CPUS_PER_FILE, max_retries=RETRIES)(_edit_one)
        pending = {task.remote(src, out, state, _with_threads(job)): src for src, out, state, job in todo}
        results: list[FileResult] = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                src = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as err:  # its worker died more than RETRIES times
                    result = FileResult(src, "failed", error=f"Ray task lost: {str(err).splitlines()[0]}")
                results.append(result)
                if on_result:
                    on_result(result)
        return results
    finally:
        if started:
            ray.shutdown()


def _with_threads(job: BatchJob) -> BatchJob:
    from dataclasses import replace

    return replace(job, threads=CPUS_PER_FILE)
