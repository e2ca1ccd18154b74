"""Prompt templates and workflows (docs/prompts.md, docs/workflows.md)."""

import environ

from config.settings.celery import CELERY_BEAT_SCHEDULE

env = environ.Env()

# Rendering a template (prompts/rendering.py): output, time and loop iterations are bounded.
PROMPT_RENDER_MAX_CHARS = env.int("PROMPT_RENDER_MAX_CHARS", default=100_000)
PROMPT_RENDER_MAX_SECONDS = env.float("PROMPT_RENDER_MAX_SECONDS", default=2.0)
PROMPT_RENDER_MAX_ITERATIONS = env.int("PROMPT_RENDER_MAX_ITERATIONS", default=50_000)
PROMPT_BODY_MAX_CHARS = env.int("PROMPT_BODY_MAX_CHARS", default=50_000)

# Workflow runs (workflows/executor.py).
# Runs of one organization executing at the same time; more wait in the queue.
WORKFLOW_MAX_CONCURRENT_RUNS = env.int("WORKFLOW_MAX_CONCURRENT_RUNS", default=4)
# A step run is held by one worker for this long, renewed while it runs; the sweep resumes
# runs whose lease expired (their worker died).
WORKFLOW_STEP_LEASE_SECONDS = env.int("WORKFLOW_STEP_LEASE_SECONDS", default=120)
# A whole run is stopped as `timed_out` after this long (a workflow may set less).
WORKFLOW_RUN_TIMEOUT_SECONDS = env.int("WORKFLOW_RUN_TIMEOUT_SECONDS", default=3600)
# Seconds between a full organization's deferred run and its next try.
WORKFLOW_REQUEUE_SECONDS = env.float("WORKFLOW_REQUEUE_SECONDS", default=2.0)
# The longest `?wait=` of a run request.
WORKFLOW_MAX_WAIT_SECONDS = env.int("WORKFLOW_MAX_WAIT_SECONDS", default=30)
# How often beat starts due schedules and sweeps stalled runs and expired approvals.
WORKFLOW_SWEEP_INTERVAL = env.float("WORKFLOW_SWEEP_INTERVAL", default=30.0)
# An inbound webhook's timestamp may be this old (and a delivery id is refused twice
# within it).
WORKFLOW_WEBHOOK_TOLERANCE_SECONDS = env.int("WORKFLOW_WEBHOOK_TOLERANCE_SECONDS", default=300)

CELERY_BEAT_SCHEDULE.update(
    {
        "workflows-tick": {
            "task": "workflows.tick",
            "schedule": WORKFLOW_SWEEP_INTERVAL,
        },
    }
)
