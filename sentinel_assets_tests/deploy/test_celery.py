"""The Celery deployment for real: ``SENTINEL_RUN_LAUNCHER=celery scripts/stack.sh up`` with two
``dagster-celery`` workers (one run at a time each) on the default queue, a third worker on the
queue ``edge`` only, and a Redis the test starts itself (free port, append-only file), so that it
may restart it. Six alerts on ``* * * * *``, two ticks, one scenario for the module:

1. The first tick's queries on the databases ``gate_a`` and ``gate_b`` wait on a table lock the
   test holds: two shards of one tick in flight at once, so on the two workers. The test kills -9
   the worker running ``gate_a`` (its whole process group, a machine gone) and only then releases
   the lock: run monitoring finds the run's task held by no live worker and resumes (or fails and
   retries) the run on the other worker.
2. The ``edge`` database (``queue: edge``) is evaluated by the ``edge`` worker only, which cannot
   reach it: ERROR, promptly, not a hang.
3. Redis is stopped just before the second tick and started again a few seconds after it.

Then every alert is recorded for both ticks, and the webhook got every notice exactly once.
``ip netns`` works here, but the workers are not put in namespaces of their own: they would need
veth links and forwarders to reach Redis, PostgreSQL and the webhook on the host's loopback; the
unreachable database is a closed port instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from pytest_httpserver import HTTPServer

from sentinel_assets_tests.helpers import REPO_ROOT, free_port
from sentinel_assets_tests.notify_servers import WEBHOOK_SECRET, WebhookReceiver
from sentinel_assets_tests.processes import background
from sentinel_assets_tests.stack import kill_leftovers, run_stack, stack_env, stack_logs

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ALERTS = {  # alert -> (database, query, condition): what each is judged to be
    "shop_unshipped": ("shop", "SELECT COUNT(*) AS n FROM orders WHERE shipped = 0", "> 0"),
    "shop_quiet": ("shop", "SELECT COUNT(*) AS n FROM orders", "> 100"),
    "gate_a_wait": ("gate_a", "SELECT COUNT(*) AS n FROM celery_gate", ">= 0"),
    "gate_a_quick": ("gate_a", "SELECT COUNT(*) AS n FROM celery_orders", "> 0"),
    "gate_b_wait": ("gate_b", "SELECT COUNT(*) AS n FROM celery_gate", ">= 0"),
    "edge_rows": ("edge", "SELECT 1 AS n", "> 0"),
}
EXPECTED_STATUS = {"shop_unshipped": "ALERT", "shop_quiet": "OK", "gate_a_wait": "ALERT",
                   "gate_a_quick": "ALERT", "gate_b_wait": "ALERT", "edge_rows": "ERROR"}
SCHEDULED_TAG = ".dagster/scheduled_execution_time"
PID_EVENT = re.compile(r"Started process for (?:run|resuming job) \(pid: (\d+)\)")
POLL_SECONDS = 5  # run monitoring, in this test's copy of deploy/dagster.celery.yaml
DEADLINE_SECONDS = 150  # a tick, its launch, and a resume or a retry


# -- Redis of its own ------------------------------------------------------------------------
class Redis:
    """redis-server on a free loopback port with an append-only file: stop and start keep its
    queues, as a production Redis with persistence does."""

    def __init__(self, folder: Path):
        import shutil

        self.binary = shutil.which("redis-server")
        if not self.binary:  # the Celery deployment needs it: a failure, never a skip
            pytest.fail("redis-server is not installed (apt-get install redis-server; .ci/run "
                        "does it)", pytrace=False)
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.lives = 0
        self._exit: contextlib.ExitStack | None = None

    def start(self) -> None:
        self._exit = contextlib.ExitStack()
        self.lives += 1
        self._exit.enter_context(background(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir",
             str(self.folder), "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            cwd=self.folder, env=dict(os.environ), log=self.folder / f"redis-{self.lives}.log"))
        deadline = time.monotonic() + 30
        while not _answers(self.port):
            assert time.monotonic() < deadline, (self.folder / f"redis-{self.lives}.log").read_text()
            time.sleep(0.2)

    def stop(self) -> None:
        if self._exit is not None:
            self._exit.close()  # SIGTERM: Redis writes its append-only file and exits
            self._exit = None


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            return False
        sock.sendall(b"PING\r\n")
        try:
            return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


# -- the specs ---------------------------------------------------------------------------------
def _write_specs(folder: Path, pg_url: str, edge_url_var: str) -> Path:
    shop = folder / "shop.db"
    with sqlite3.connect(shop) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, shipped INTEGER)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 1), (2, 0), (3, 0)])
    conn.close()
    alerts = [{"name": name, "database": db, "query": query,
               "condition": {"column": "n", "op": cond.split()[0],
                             "threshold": int(cond.split()[1])},
               # a gated query waits for the test, however slow the machine: no timeout then
               **({"timeout": "5m"} if "celery_gate" in query else {})}
              for name, (db, query, cond) in ALERTS.items()]
    spec = {
        "databases": {
            "shop": {"url": f"sqlite:///{shop}"},
            "gate_a": {"url": pg_url},
            "gate_b": {"url": pg_url},
            "edge": {"url": f"${{{edge_url_var}}}", "queue": "edge"},
        },
        "channels": {"ops": {"type": "webhook", "url": "${CELERY_HOOK_URL}",
                             "secret": "${CELERY_HOOK_SECRET}", "max_attempts": 2,
                             "retry_backoff": 0.1}},
        "defaults": {"owner": "ops", "notify": ["ops"], "schedule": "* * * * *",
                     "timezone": "UTC"},
        "alerts": alerts,
    }
    specs = folder / "specs"
    specs.mkdir()
    (specs / "celery.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return specs


def _test_instance(folder: Path) -> Path:
    """deploy/dagster.celery.yaml with run monitoring polling every few seconds."""
    config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.celery.yaml").read_text())
    config["run_monitoring"].update(poll_interval_seconds=POLL_SECONDS, start_timeout_seconds=90)
    path = folder / "dagster.celery.test.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# -- what the scenario saw ---------------------------------------------------------------------
@dataclass
class Run:
    run_id: str
    status: str
    tags: dict[str, str]
    pids: list[int]                     # the run worker process of each attempt, in order
    workers: list[str]                  # the worker each attempt ran on
    evaluations: list[tuple[str, str]]  # (alert, status) of each ASSET_CHECK_EVALUATION
    messages: list[str]                 # engine event messages

    @property
    def tick(self) -> int | None:
        """The scheduled tick (epoch seconds) of a run the schedule started."""
        text = self.tags.get(SCHEDULED_TAG)
        return round(datetime.fromisoformat(text).timestamp()) if text else None

    @property
    def database(self) -> str | None:
        return self.tags.get("sentinel/database")


@dataclass
class Seen:
    ticks: list[int] = field(default_factory=list)
    up_said: str = ""
    runs: list[Run] = field(default_factory=list)
    notices: list[dict] = field(default_factory=list)
    killed_worker: str = ""
    killed_run: str = ""
    in_flight_at_kill: dict[str, str] = field(default_factory=dict)  # database -> worker
    redis_lives: int = 0
    logs: str = ""


def _worker_groups(stack_dir: Path, extra: dict[str, int]) -> dict[int, str]:
    groups = {int(p.read_text()): p.stem for p in (stack_dir / "pids").glob("worker-*.pid")}
    groups.update({pid: name for name, pid in extra.items()})
    return groups


def _read_runs(engine: sa.Engine, groups: dict[int, str], pgids: dict[int, int]) -> list[Run]:
    from dagster._core.events.log import EventLogEntry
    from dagster._serdes import deserialize_value

    runs = []
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT run_id, status FROM runs WHERE pipeline_name = 'sentinel_evaluate' "
            "ORDER BY id")).all()
        for run_id, run_status in rows:
            tags = dict(conn.execute(sa.text(
                "SELECT key, value FROM run_tags WHERE run_id = :r"), {"r": run_id}).all())
            pids, messages, evaluations = [], [], []
            for kind, text in conn.execute(sa.text(
                    "SELECT dagster_event_type, event FROM event_logs WHERE run_id = :r "
                    "AND dagster_event_type IN ('ENGINE_EVENT', 'ASSET_CHECK_EVALUATION') "
                    "ORDER BY id"), {"r": run_id}):
                entry = deserialize_value(text, EventLogEntry)
                if kind == "ENGINE_EVENT":
                    messages.append((entry.dagster_event.message if entry.dagster_event
                                     else entry.user_message) or "")
                    match = PID_EVENT.search(messages[-1])
                    if match:
                        pids.append(int(match.group(1)))
                else:
                    data = entry.dagster_event.event_specific_data
                    status = data.metadata.get("status")
                    evaluations.append((data.asset_check_key.name,
                                        getattr(status, "value", str(status))))
            workers = [groups.get(pgids.get(pid, -1), f"pid {pid}") for pid in pids]
            runs.append(Run(run_id, run_status, tags, pids, workers, evaluations, messages))
    return runs


def _remember_pgids(pgids: dict[int, int], engine: sa.Engine) -> None:
    """The process group of each run worker process while it is alive (workers keep them)."""
    with engine.connect() as conn:
        texts = conn.execute(sa.text(
            "SELECT event FROM event_logs WHERE dagster_event_type = 'ENGINE_EVENT' "
            "AND event LIKE '%Started process for%'")).scalars().all()
    for text in texts:
        match = PID_EVENT.search(text)
        if match and int(match.group(1)) not in pgids:
            with contextlib.suppress(ProcessLookupError):
                pgids[int(match.group(1))] = os.getpgid(int(match.group(1)))


def _wait(what: str, condition, deadline: float, logs) -> object:
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{logs()}", pytrace=False)
        time.sleep(0.5)


def _lock_waiters(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'celery_gate' AND NOT l.granted")).scalar_one()


@pytest.fixture(scope="module")
def seen(tmp_path_factory, pg_url_factory) -> Seen:
    tmp = tmp_path_factory.mktemp("celery")
    (tmp / "redis").mkdir()
    redis = Redis(tmp / "redis")
    pg_url = pg_url_factory()
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE celery_gate (id INTEGER)"))
        conn.execute(sa.text("CREATE TABLE celery_orders (id INTEGER)"))
        conn.execute(sa.text("INSERT INTO celery_orders VALUES (1), (2)"))
    server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    server.start()
    receiver = WebhookReceiver(server)
    # a database nothing here can reach. Every process needs the variable (the code server
    # validates the run config of sentinel_evaluate, which holds every database); only the edge
    # worker's queue gets its runs
    edge_url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/edge"
    env = stack_env(
        tmp, pg_url, _write_specs(tmp, pg_url, "CELERY_EDGE_DB_URL"), CELERY_EDGE_DB_URL=edge_url,
        SENTINEL_RUN_LAUNCHER="celery", SENTINEL_CELERY_WORKERS="2",
        SENTINEL_CELERY_CONCURRENCY="1", SENTINEL_CELERY_QUEUES="dagster",
        SENTINEL_CELERY_BROKER_URL=redis.url, SENTINEL_STACK_INSTANCE=str(_test_instance(tmp)),
        CELERY_HOOK_URL=receiver.url, CELERY_HOOK_SECRET=WEBHOOK_SECRET)
    stack_dir = Path(env["SENTINEL_STACK_DIR"])
    # the edge worker: the same command and instance, its own queue, a database it cannot reach
    edge_env = dict(env, DAGSTER_HOME=str(stack_dir / "dagster_home"), DAGSTER_POSTGRES_URL=pg_url,
                    SENTINEL_STATE_URL=pg_url, PATH=f"{env['SENTINEL_STACK_BIN']}:{env['PATH']}",
                    SENTINEL_CELERY_BACKEND_URL=redis.url)
    edge_cmd = [f"{env['SENTINEL_STACK_BIN']}/dagster-celery", "worker", "start", "-A",
                "dagster_celery.app", "-y", str(REPO_ROOT / "deploy" / "celery-worker.yaml"),
                "-q", "edge", "-n", "edge-worker", "--", "--concurrency", "1"]
    result = Seen()
    pgids: dict[int, int] = {}
    gate = engine.connect()
    exits = contextlib.ExitStack()

    def logs() -> str:
        runs = "\n".join(f"run {r.run_id[:8]} {r.database} {r.status} tick {r.tick} "
                         f"workers {r.workers} {r.evaluations} {r.messages[:4]}"
                         for r in _read_runs(engine, _worker_groups(stack_dir, {}), pgids))
        return runs + "\n" + stack_logs(stack_dir, lines=40) + "\n" + "\n".join(
            f"--- {p.name} ---\n" + p.read_text(errors="replace")[-3000:]
            for p in sorted(tmp.glob("*.log")))

    try:
        redis.start()
        # every query on celery_gate waits until the test lets go
        gate.execute(sa.text("LOCK TABLE celery_gate IN ACCESS EXCLUSIVE MODE"))
        up = run_stack("up", env, timeout=300)
        assert up.returncode == 0, f"stack.sh up failed:\n{up.stderr}\n{logs()}"
        edge = exits.enter_context(background(edge_cmd, cwd=REPO_ROOT, env=edge_env,
                                              log=tmp / "edge-worker.log"))
        deadline = time.monotonic() + 120
        _wait("the edge worker", lambda: " ready" in (tmp / "edge-worker.log").read_text(),
              deadline, logs)

        # 1. both gated shards of the first tick in flight, on the two workers; kill gate_a's
        deadline = time.monotonic() + DEADLINE_SECONDS
        _wait("two queries waiting on the gate", lambda: _lock_waiters(engine) >= 2, deadline,
              logs)
        _wait("gate_a_quick's notice (sent by the run about to be killed)",
              lambda: any(r["payload"]["alert"] == "gate_a_quick" for r in receiver.received),
              deadline, logs)

        def gated_runs() -> dict[str, Run] | None:
            _remember_pgids(pgids, engine)
            runs = {r.database: r for r in _read_runs(engine, _worker_groups(stack_dir, {}), pgids)
                    if r.database in ("gate_a", "gate_b") and r.status == "STARTED" and r.pids}
            return runs if len(runs) == 2 else None

        in_flight = _wait("the two gated runs to start", gated_runs, deadline, logs)
        victim = in_flight["gate_a"]
        result.in_flight_at_kill = {db: run.workers[-1] for db, run in in_flight.items()}
        result.killed_run, result.killed_worker = victim.run_id, victim.workers[-1]
        group = pgids[victim.pids[-1]]
        os.killpg(group, signal.SIGKILL)
        _wait("the killed worker to be gone", lambda: not _group_alive(group), deadline, logs)
        gate.rollback()  # the lock goes; the resumed run's query may now read

        # 3. Redis down across the second tick, then up again with what it had
        ticks = [victim.tick, victim.tick + 60]
        second = ticks[1]
        while time.time() < second - 3:
            time.sleep(0.5)
        redis.stop()
        while time.time() < second + 4:
            time.sleep(0.5)
        redis.start()
        result.redis_lives = redis.lives

        # every alert of both ticks recorded, nothing in flight any more
        groups = _worker_groups(stack_dir, {"edge-worker": edge.pid})

        def settled() -> list[Run] | None:
            _remember_pgids(pgids, engine)
            runs = _read_runs(engine, groups, pgids)
            busy = [r for r in runs if r.status in ("QUEUED", "NOT_STARTED", "STARTING",
                                                    "STARTED", "CANCELING")]
            per_tick = _recorded(runs)
            done = all(set(per_tick.get(t, {})) >= set(ALERTS) for t in ticks)
            return runs if done and not busy else None

        result.runs = _wait("every alert of both ticks to be recorded", settled,
                            time.monotonic() + DEADLINE_SECONDS, logs)
        result.ticks = ticks
        result.notices = [r["payload"] for r in receiver.received]
        result.logs = logs()
        result.up_said = up.stderr
        yield result
    finally:
        with contextlib.suppress(Exception):
            gate.rollback()
        gate.close()
        down = run_stack("down", env, timeout=120)
        left = kill_leftovers(stack_dir)
        redis_kept = _answers(redis.port)
        exits.close()
        redis.stop()
        server.clear()
        server.stop()
        engine.dispose()
        assert down.returncode == 0, down.stderr
        assert not left, f"stack.sh down left these running: {left}"
        # the stack reused the test's Redis: `down` left it alone
        assert redis_kept, "scripts/stack.sh down stopped a Redis it had not started"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _root(run: Run) -> str:
    return run.tags.get("dagster/root_run_id", run.run_id)


def _recorded(runs: list[Run]) -> dict[str, dict[str, list[str]]]:
    """tick -> alert -> statuses recorded, counting a retried run under its original's tick."""
    tick_of = {r.run_id: r.tick for r in runs}
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        tick = run.tick or tick_of.get(_root(run))
        for alert, status in run.evaluations:
            out[tick][alert].append(status)
    return out


# -- the tests ---------------------------------------------------------------------------------
def test_every_alert_is_recorded_for_both_ticks_with_its_status(seen):
    recorded = _recorded(seen.runs)
    for tick in seen.ticks:
        assert set(recorded[tick]) == set(ALERTS), (tick, dict(recorded[tick]))
        for alert, statuses in recorded[tick].items():
            assert set(statuses) == {EXPECTED_STATUS[alert]}, (tick, alert, statuses)
    # the runs of both ticks (and any retry) ended, none failed for good
    final = {}
    for run in seen.runs:
        final[_root(run)] = run.status
    assert set(final.values()) == {"SUCCESS"}, [(r.run_id, r.status, r.messages[-3:])
                                                 for r in seen.runs]


def test_the_shards_of_a_tick_run_on_different_workers_at_once(seen):
    # gate_a and gate_b were both in flight when the kill came: two workers, one run each
    assert set(seen.in_flight_at_kill) == {"gate_a", "gate_b"}
    assert len(set(seen.in_flight_at_kill.values())) == 2, seen.in_flight_at_kill
    assert set(seen.in_flight_at_kill.values()) <= {"worker-1", "worker-2"}


def test_a_run_whose_worker_was_killed_is_resumed_on_another(seen):
    killed = next(r for r in seen.runs if r.run_id == seen.killed_run)
    # run monitoring resumed the same run on the live worker, where it finished
    assert killed.workers[0] == seen.killed_worker
    assert len(killed.workers) == 2 and killed.workers[1] != seen.killed_worker, killed.messages
    assert any("Resuming run" in m for m in killed.messages), killed.messages
    assert killed.status == "SUCCESS", killed.messages
    assert not [r.run_id for r in seen.runs if _root(r) == seen.killed_run and r is not killed]
    # its tick's evaluations of gate_a are recorded, gate_a_wait's only after the kill
    statuses = _recorded(seen.runs)[killed.tick]
    assert statuses["gate_a_wait"] and statuses["gate_a_quick"]


def test_every_notice_reached_the_webhook_exactly_once(seen):
    keys = Counter(n["idempotency_key"] for n in seen.notices)
    assert keys and max(keys.values()) == 1, keys.most_common(3)
    # a first notice for each alert that is not OK; the second tick sent none. Sentinel's own
    # healthcheck (every 5 minutes) may also report the killed worker's moments: not an alert's
    alerts = [n for n in seen.notices if not n["alert"].startswith("sentinel:")]
    assert sorted((n["alert"], n["kind"]) for n in alerts) == sorted(
        [("edge_rows", "error"), ("gate_a_quick", "firing"), ("gate_a_wait", "firing"),
         ("gate_b_wait", "firing"), ("shop_unshipped", "firing")]), seen.notices


def test_the_edge_queue_goes_to_its_worker_only_which_reports_error_not_a_hang(seen):
    attempts = defaultdict(list)  # a run and its retries (a launch may fail while Redis is down)
    for run in seen.runs:
        if run.database == "edge":
            attempts[_root(run)].append(run)
    assert len(attempts) >= 2  # one per tick
    for runs in attempts.values():
        for run in runs:
            assert run.tags["dagster-celery/queue"] == "edge"
            assert set(run.workers) <= {"edge-worker"}, run.workers
        last = runs[-1]
        assert last.workers and last.status == "SUCCESS", [(r.status, r.messages) for r in runs]
        assert {status for _, status in last.evaluations} == {"ERROR"}
    others = [w for r in seen.runs if r.database != "edge" for w in r.workers]
    assert others and "edge-worker" not in others


def test_runs_were_not_lost_across_the_redis_restart(seen):
    assert seen.redis_lives == 2
    recorded = _recorded(seen.runs)
    assert set(recorded[seen.ticks[1]]) == set(ALERTS)
    # the notices of the first tick were not sent again after the restart
    assert len(seen.notices) == len({n["idempotency_key"] for n in seen.notices})


def test_the_stack_reuses_a_running_redis_and_starts_the_workers(seen):
    # `down` (at the end of the module) must then stop the workers but not this Redis
    assert "reusing Redis at 127.0.0.1:" in seen.up_said, seen.up_said
    assert "runs on 2 Celery worker(s) on queue(s) dagster" in seen.up_said, seen.up_said
