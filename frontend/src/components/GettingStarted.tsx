// Home: a new organization's getting-started checklist, ticked off by the server from what
// the organization has done (GET /api/v1/onboarding); an admin may hide it for everyone.
import { Link } from "react-router-dom";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import { ErrorMessage } from "../ui";

export function GettingStarted() {
  // It sums up what happened anywhere (uploads, chats, invitations, keys, the worker's
  // ingestion): asked again whenever home is shown, never taken from the cache alone.
  const checklist = $api.useQuery("get", "/api/v1/onboarding", {}, { staleTime: 0 });
  const dismiss = useAction(
    async () => {
      await unwrap(client.PATCH("/api/v1/organization", { body: { onboarding_dismissed: true } }));
    },
    { invalidates: ["/api/v1/onboarding", "/api/v1/organization"] },
  );
  const data = checklist.data;
  if (!data || data.dismissed) return checklist.error ? <ErrorMessage error={checklist.error} /> : null;
  const allDone = data.completed === data.total;
  return (
    <section className="card" aria-labelledby="getting-started-title" data-testid="getting-started">
      <div className="card-header">
        <div>
          <h2 id="getting-started-title">{allDone ? "You are all set" : "Get started"}</h2>
          <p className="muted small" data-testid="getting-started-progress">
            {data.completed} of {data.total} done
          </p>
        </div>
        <button type="button" className="btn btn-ghost btn-sm" onClick={() => void dismiss.run()} disabled={dismiss.busy}>
          {allDone ? "Hide" : "Dismiss"}
        </button>
      </div>
      <div className="card-body stack">
        <div
          className="progress"
          role="progressbar"
          aria-label="Getting started"
          aria-valuemin={0}
          aria-valuemax={data.total}
          aria-valuenow={data.completed}
        >
          <span style={{ width: `${(data.completed / data.total) * 100}%` }} />
        </div>
        <ErrorMessage error={dismiss.error} />
        <ol className="checklist">
          {data.steps.map((step) => (
            <li key={step.key} className={step.done ? "done" : ""} data-testid="getting-started-step" data-done={step.done}>
              <span className="check-mark" aria-hidden="true">
                {step.done ? "✓" : ""}
              </span>
              <div>
                <div className="check-title">
                  {step.done ? (
                    <>
                      {step.title} <span className="sr-only">(done)</span>
                    </>
                  ) : (
                    <Link to={step.link}>{step.title}</Link>
                  )}
                </div>
                <div className="muted small">{step.description}</div>
              </div>
            </li>
          ))}
        </ol>
      </div>
    </section>
  );
}
