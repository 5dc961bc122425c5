"""The run launcher of the Celery deployment (``deploy/dagster.celery.yaml``, docs/scale-out.md):
dagster-celery's ``CeleryRunLauncher``, which also notices a worker that died.

dagster-celery judges a run's health by its task's state in the Celery result backend. A worker
that is killed (``kill -9``, its machine gone) never writes a final state: its task stays
``STARTED`` and the run would hang until ``max_runtime_seconds``. Here a ``STARTED`` task that no
live worker holds any more makes the run worker ``FAILED``, so run monitoring resumes the run on
another worker (``max_resume_run_attempts``), or fails it and run retries start it again
(``run_retries`` and the ``dagster/max_retries`` tag of ``sentinel_evaluate``). A ``PENDING``
task that a live worker holds (the result backend lost its state, e.g. a Redis restarted
without persistence), or that this launcher sent less than ``start_timeout_seconds`` ago (a
resumed run waiting in the queue for a free worker), is ``RUNNING``, not a reason to start the
run once more.

It also fixes ``resume_run``: dagster-celery 0.29 sends its resume task the keyword of the execute
task (``execute_job_args_packed``), so every resume failed with a ``TypeError`` and the run was
failed instead.

The workers are asked once for all runs (``inspect active/reserved``, one broadcast), at most
every ``HELD_CACHE_SECONDS``; a task is declared lost only after a second, fresh broadcast.
"""

from __future__ import annotations

import time

from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._grpc.types import ResumeRunArgs
from dagster._serdes import pack_value
from dagster_celery.config import TASK_RESUME_JOB_NAME
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from dagster_celery.tasks import create_resume_job_task

#: how long a worker has to answer a broadcast
INSPECT_TIMEOUT_SECONDS = 3.0
#: the task ids the workers hold are asked again after this long
HELD_CACHE_SECONDS = 5.0


class SentinelCeleryRunLauncher(CeleryRunLauncher):
    """``CeleryRunLauncher`` whose health check asks the workers whether they still hold a run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._held: tuple[float, frozenset[str] | None] = (0.0, None)
        self._sent: dict[str, float] = {}  # run id -> when its last task was sent

    def _launch_celery_task_run(self, run, task_signature, routing_key) -> None:
        now = time.monotonic()
        if len(self._sent) > 10_000:  # a long-lived daemon: forget what is long past
            self._sent = {k: t for k, t in self._sent.items() if now - t < self._start_timeout()}
        self._sent[run.run_id] = now
        super()._launch_celery_task_run(run, task_signature, routing_key)

    def resume_run(self, context) -> None:
        run = context.dagster_run
        args = ResumeRunArgs(job_origin=run.job_code_origin, run_id=run.run_id,
                             instance_ref=self._instance.get_ref(), set_exit_code_on_failure=True)
        task = create_resume_job_task(self.celery)
        self._launch_celery_task_run(
            run=run, task_signature=task.si(resume_job_args_packed=pack_value(args)),
            routing_key=TASK_RESUME_JOB_NAME)

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG)
        if not task_id:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run has no Celery task id")
        state = self._state(task_id)
        if state not in ("STARTED", "PENDING"):
            return super().check_run_worker_health(run)
        if task_id in self._held_task_ids():
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        if state == "PENDING":
            if time.monotonic() - self._sent.get(run.run_id, float("-inf")) < self._start_timeout():
                return CheckRunHealthResult(WorkerStatus.RUNNING, "queued for a free worker")
            return super().check_run_worker_health(run)  # unknown: dagster-celery's answer
        # STARTED, yet no worker reported it: ask once more, fresh, before calling it lost
        if task_id in self._held_task_ids(fresh=True):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        if self._state(task_id) != "STARTED":  # it finished in the meantime
            return super().check_run_worker_health(run)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"Celery task {task_id} is STARTED, but no live worker holds it (its worker died)")

    def _start_timeout(self) -> float:
        return float(self._instance.run_monitoring_start_timeout_seconds or 180)

    def _state(self, task_id: str) -> str:
        return self.celery.AsyncResult(task_id).state

    def _held_task_ids(self, fresh: bool = False) -> frozenset[str]:
        """Ids of the tasks the live workers are running or have reserved (one broadcast)."""
        at, held = self._held
        if not fresh and held is not None and time.monotonic() - at < HELD_CACHE_SECONDS:
            return held
        inspect = self.celery.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS)
        ids: set[str] = set()
        for answer in (inspect.active(), inspect.reserved()):
            for tasks in (answer or {}).values():
                ids.update(task["id"] for task in tasks if task.get("id"))
        held = frozenset(ids)
        self._held = (time.monotonic(), held)
        return held
