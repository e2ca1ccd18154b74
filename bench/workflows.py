"""Workflow executor overhead and fan-out, on a real Celery worker (prefork, the dev
worker count: 2) and the dev database.

Run from the repository root: ``python bench/workflows.py`` (``--quick``: fewer
repetitions and 60 runs in the fan-out instead of 200).

1. Overhead. The same 20 template renders, two ways, each one Celery task delivery on
   the worker started here:
   - executor: a published workflow of 20 ``transform`` steps (each a render of the
     same template); before each step's work one committed statement writes the previous
     step's output, renews the run's lease (the cancellation check) and writes this
     step ``running``; the last output is committed with the run's end: the durable
     protocol (ADR 0032);
   - baseline: a workflow of ONE transform step whose template renders that same body
     20 times in one render (``{% for _ in range(20) %}``): one task, one render call,
     one step row: the same template work without the per-step protocol.
   Each side is timed from the run's start (``started_at``) to its end (``finished_at``),
   as stored by the worker, alternating sides, ``REPEATS`` times; ratio = median
   executor / median baseline. Target: <= 2x.
2. Fan-out: ``FANOUT`` runs of a 3-step workflow started at once, on the dev worker
   count (``CELERY_CONCURRENCY``, 2) and the organization's default concurrency limit
   (``WORKFLOW_MAX_CONCURRENT_RUNS``). Then the database is checked: every run
   succeeded; every run has exactly the step rows 0, 1 and 2 (none lost, none
   duplicated: the unique (run, index) constraint makes a duplicate row impossible, so
   a repeat would show as a second attempt), each ``succeeded``, finished, of one
   attempt, with its own idempotency key. Throughput is reported.

Results: bench/results/workflows-<UTC stamp>.json and workflows-latest.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/common.py

import common

ORG_SLUG = "benchflows"
TARGET_RATIO = 2.0
# A realistic transform: a short report from a list of items (what a digest step does).
BODY = (
    "Report for {{ input.topic }}\n"
    "{% for item in input['items'] %}- {{ loop.index }}. {{ item|title }} "
    "({{ item|length }} chars){% if not loop.last %};{% endif %}\n{% endfor %}"
)


def _wait_finished(run_ids, timeout: float):
    from workflows.models import FINISHED, WorkflowRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = WorkflowRun.objects.filter(pk__in=run_ids).exclude(status__in=FINISHED).count()
        if pending == 0:
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out: runs unfinished after {timeout}s")


def _workflow(name: str, steps: list[dict], admin):
    from workflows import services

    workflow, _ = services.workflow_create(
        user=admin,
        name=f"{name} {time.strftime('%H:%M:%S')}",
        draft={"steps": steps, "input_schema": [{"name": "topic"}]},
    )
    services.workflow_publish(workflow=workflow, user=admin)
    workflow.refresh_from_db()
    return workflow


def _start(workflow, items):
    from django.db import transaction

    from workflows import services

    with transaction.atomic():
        run = services.run_start(workflow=workflow, trigger="api", input={"topic": "refunds"})
        # the input schema has one text field; the items ride along as a constant input
        type(run).objects.filter(pk=run.pk).update(input={"topic": "refunds", "items": items})
    return run


def _seconds(run_id) -> float:
    from workflows.models import WorkflowRun

    run = WorkflowRun.objects.get(pk=run_id)
    assert run.status == "succeeded", (run.status, run.error)
    return (run.finished_at - run.started_at).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats, fanout = (5, 60) if args.quick else (15, 200)

    common.setup_django()
    from django.conf import settings
    from django_tenants.utils import schema_context

    from users.models import Membership
    from users.services import user_create

    organization = common.benchmark_organization(ORG_SLUG, "Bench Workflows")
    from users.models import User

    admin = User.objects.filter(email="bench@flows.example").first() or user_create(
        email="bench@flows.example", password="x-Secret-123"
    )
    Membership.objects.get_or_create(
        user=admin, organization=organization, defaults={"role": "admin"}
    )
    concurrency = int(os.environ.get("CELERY_CONCURRENCY", "2"))  # what `make dev` runs
    env = {
        **os.environ,
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.dev"),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "warning",
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"benchflows-{os.getpid()}@%h",
        ],
        cwd=common.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    report: dict = {"repeats": repeats, "fanout": fanout, "quick": args.quick}
    try:
        with schema_context(ORG_SLUG):
            items = [f"item number {n} of the weekly list" for n in range(40)]
            step = {"type": "transform", "template": BODY}
            chain = _workflow(
                "bench 20 steps", [{**step, "key": f"s{n}"} for n in range(20)], admin
            )
            single = _workflow(
                "bench 1 step x20",
                [
                    {
                        **step,
                        "key": "all",
                        "template": "{% for _ in range(20) %}" + BODY + "{% endfor %}",
                    }
                ],
                admin,
            )
            # warm-up: the worker's first task imports and connects
            warm = [_start(chain, items).pk, _start(single, items).pk]
            _wait_finished(warm, 120)
            executor_s, baseline_s = [], []
            for _ in range(repeats):
                run = _start(chain, items)
                _wait_finished([run.pk], 120)
                executor_s.append(_seconds(run.pk))
                run = _start(single, items)
                _wait_finished([run.pk], 120)
                baseline_s.append(_seconds(run.pk))
            ratio = statistics.median(executor_s) / statistics.median(baseline_s)
            report["overhead"] = {
                "executor_20_steps_s": common.latency_summary(executor_s),
                "baseline_one_task_s": common.latency_summary(baseline_s),
                "ratio_median": round(ratio, 2),
                "per_step_overhead_ms": round(
                    (statistics.median(executor_s) - statistics.median(baseline_s)) / 20 * 1000, 2
                ),
                "target": TARGET_RATIO,
                "passed": ratio <= TARGET_RATIO,
            }
            common.print_table(
                ["side", "median s", "p95 s"],
                [
                    [
                        "executor: 20 steps",
                        f"{statistics.median(executor_s):.4f}",
                        f"{common.percentile(executor_s, 95):.4f}",
                    ],
                    [
                        "baseline: 1 task, 20 renders",
                        f"{statistics.median(baseline_s):.4f}",
                        f"{common.percentile(baseline_s, 95):.4f}",
                    ],
                ],
            )
            print(
                f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}x): {common.verdict(ratio <= TARGET_RATIO)}"
            )

            # fan-out
            from django.db.models import Count

            from workflows.models import WorkflowRun, WorkflowStepRun

            small = _workflow(
                "bench fan-out",
                [
                    {**step, "key": f"f{n}", "template": f"{{{{ input.topic }}}} {n}"}
                    for n in range(3)
                ],
                admin,
            )
            started = time.monotonic()
            run_ids = [_start(small, []).pk for _ in range(fanout)]
            _wait_finished(run_ids, 900)
            elapsed = time.monotonic() - started
            statuses = dict(
                WorkflowRun.objects.filter(pk__in=run_ids)
                .values_list("status")
                .annotate(n=Count("id"))
            )
            rows = WorkflowStepRun.objects.filter(run_id__in=run_ids)
            indices: dict = {}
            for run_id, index in rows.values_list("run_id", "index"):
                indices.setdefault(run_id, []).append(index)
            wrong_counts = sum(1 for r in run_ids if sorted(indices.get(r, [])) != [0, 1, 2])
            repeated = rows.exclude(attempts=1).count()
            unfinished = (
                rows.exclude(status="succeeded").count()
                + rows.filter(finished_at__isnull=True).count()
            )
            keys = rows.values("idempotency_key").distinct().count()
            ok = (
                statuses == {"succeeded": fanout}
                and wrong_counts == 0
                and repeated == 0
                and unfinished == 0
                and keys == fanout * 3
            )
            report["fanout_result"] = {
                "runs": fanout,
                "statuses": statuses,
                "step_rows": rows.count(),
                "runs_with_wrong_step_count": wrong_counts,
                "step_runs_with_more_than_one_attempt": repeated,
                "step_runs_not_succeeded_or_unfinished": unfinished,
                "distinct_idempotency_keys": keys,
                "seconds": round(elapsed, 2),
                "runs_per_second": round(fanout / elapsed, 1),
                "passed": ok,
            }
            print(
                f"fan-out: {fanout} runs in {elapsed:.1f}s ({fanout / elapsed:.1f} runs/s), "
                f"statuses {statuses}, step rows {rows.count()} (expected {fanout * 3}), "
                f"lost/duplicated {wrong_counts}, repeated attempts {repeated}, "
                f"unfinished {unfinished}, distinct keys {keys}: {common.verdict(ok)}"
            )
            report["settings"] = {
                "worker_concurrency": concurrency,
                "max_concurrent_runs": settings.WORKFLOW_MAX_CONCURRENT_RUNS,
                "requeue_s": settings.WORKFLOW_REQUEUE_SECONDS,
            }
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
    report["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    common.write_results("workflows", report)


if __name__ == "__main__":
    main()
