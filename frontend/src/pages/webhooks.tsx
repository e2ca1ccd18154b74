// Outbound webhooks: endpoints subscribed to events, the signing secret shown once,
// the delivery log with request/response excerpts, redelivery, test events. (Issue #16.)
import { type FormEvent, useState } from "react";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import type { components } from "../api/schema";
import { Badge, CopyButton, Empty, ErrorMessage, FieldErrors, formatDate, Loading, Modal, PageHeader, Pager, TextField } from "../ui";

type Endpoint = components["schemas"]["WebhookEndpointOutput"];
type Delivery = components["schemas"]["WebhookDeliveryOutput"];

const TONES: Record<string, "success" | "danger" | "warning" | "info"> = {
  succeeded: "success",
  failed: "danger",
  retrying: "warning",
  pending: "info",
};

export function WebhooksPage() {
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [open, setOpen] = useState<Endpoint | null>(null);
  const endpoints = $api.useQuery("get", "/api/v1/webhooks/endpoints", { params: { query: { page, page_size: 50 } } });
  const types = $api.useQuery("get", "/api/v1/webhooks/event-types", { params: { query: { page_size: 100 } } }, { staleTime: Infinity });
  const create = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const created = await unwrap(
        client.POST("/api/v1/webhooks/endpoints", {
          body: {
            url: String(form.get("url") ?? ""),
            description: String(form.get("description") ?? ""),
            event_types: form.getAll("event_types").map(String),
          },
        }),
      );
      setCreating(false);
      setSecret(created.secret);
    },
    { invalidates: ["/api/v1/webhooks/endpoints"] },
  );
  const toggle = useAction(
    async (endpoint: Endpoint) => {
      await unwrap(
        client.PATCH("/api/v1/webhooks/endpoints/{endpoint_id}", {
          params: { path: { endpoint_id: endpoint.id } },
          body: { is_active: !endpoint.is_active },
        }),
      );
    },
    { invalidates: ["/api/v1/webhooks/endpoints"] },
  );
  const remove = useAction(
    async (endpoint: Endpoint) => {
      if (!window.confirm(`Delete the endpoint ${endpoint.url}? Its delivery log goes with it.`)) return;
      await unwrap(client.DELETE("/api/v1/webhooks/endpoints/{endpoint_id}", { params: { path: { endpoint_id: endpoint.id } } }));
    },
    { invalidates: ["/api/v1/webhooks/endpoints"] },
  );
  return (
    <div className="stack-lg">
      <PageHeader
        title="Webhooks"
        description="Send signed events (Standard Webhooks) to your systems when documents finish, answers complete or a quota is reached."
        actions={
          <button
            type="button"
            className="btn btn-primary"
            onClick={() => {
              create.setError(null);
              setCreating(true);
            }}
          >
            New endpoint
          </button>
        }
      />
      <ErrorMessage error={toggle.error ?? remove.error} />
      <section className="card" aria-label="Endpoints">
        <ErrorMessage error={endpoints.error} />
        {endpoints.isPending ? <Loading /> : null}
        {endpoints.data ? (
          endpoints.data.results.length ? (
            <div className="table-wrap">
              <table className="table table-stack">
                <thead>
                  <tr>
                    <th>Endpoint</th>
                    <th>Events</th>
                    <th>Status</th>
                    <th className="num">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {endpoints.data.results.map((endpoint) => (
                    <tr key={endpoint.id} data-testid="webhook-row">
                      <td>
                        <strong className="mono small" style={{ wordBreak: "break-all" }}>
                          {endpoint.url}
                        </strong>
                        <div className="muted small">{endpoint.description || `created ${formatDate(endpoint.created_at)}`}</div>
                      </td>
                      <td>
                        <div className="row" style={{ gap: 4, flexWrap: "wrap" }}>
                          {endpoint.event_types.map((type) => (
                            <Badge key={type}>{type}</Badge>
                          ))}
                        </div>
                      </td>
                      <td>
                        {endpoint.is_active ? <Badge tone="success">active</Badge> : <Badge tone="danger">disabled</Badge>}
                        {endpoint.consecutive_failures ? (
                          <div className="muted small">{endpoint.consecutive_failures} failures in a row</div>
                        ) : null}
                        {endpoint.disabled_reason ? <div className="muted small">{endpoint.disabled_reason}</div> : null}
                      </td>
                      <td className="num">
                        <div className="row" style={{ gap: 4, justifyContent: "flex-end", flexWrap: "wrap" }}>
                          <button
                            type="button"
                            className="btn btn-sm"
                            onClick={() => setOpen(endpoint)}
                            aria-label={`Deliveries of ${endpoint.url}`}
                          >
                            Deliveries
                          </button>
                          <button type="button" className="btn btn-sm" onClick={() => void toggle.run(endpoint)}>
                            {endpoint.is_active ? "Disable" : "Enable"}
                          </button>
                          <button
                            type="button"
                            className="btn btn-sm btn-danger"
                            onClick={() => void remove.run(endpoint)}
                            aria-label={`Delete ${endpoint.url}`}
                          >
                            Delete
                          </button>
                        </div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty title="No endpoints yet">Add the address of a receiver; it gets a signing secret to verify every delivery.</Empty>
          )
        ) : null}
        {endpoints.data ? <Pager page={page} count={endpoints.data.count} pageSize={50} onPage={setPage} /> : null}
      </section>

      {open ? <DeliveryLog endpoint={open} onClose={() => setOpen(null)} /> : null}

      <Modal open={creating} title="New webhook endpoint" onClose={() => setCreating(false)}>
        <form className="stack" onSubmit={create.run} noValidate>
          <TextField label="URL" name="url" type="url" required autoFocus placeholder="https://example.com/webhooks" error={create.error} />
          <TextField label="Description (optional)" name="description" error={create.error} />
          <fieldset>
            <legend>Events</legend>
            <div className="checks">
              {(types.data?.results ?? []).map((type) => (
                <label key={type.type} className="check" title={type.description}>
                  <input type="checkbox" name="event_types" value={type.type} defaultChecked={type.type === "document.completed"} />
                  <span className="mono">{type.type}</span>
                </label>
              ))}
            </div>
            <FieldErrors error={create.error} name="event_types" />
          </fieldset>
          <ErrorMessage error={create.error} />
          <div className="row" style={{ justifyContent: "flex-end" }}>
            <button type="button" className="btn" onClick={() => setCreating(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={create.busy}>
              Create endpoint
            </button>
          </div>
        </form>
      </Modal>

      <Modal
        open={secret !== null}
        title="Signing secret"
        onClose={() => setSecret(null)}
        footer={
          <button type="button" className="btn btn-primary" onClick={() => setSecret(null)}>
            Done
          </button>
        }
      >
        <div className="alert alert-warning" role="status">
          Copy the secret now: it is shown only once. Verify each delivery's webhook-signature header with it.
        </div>
        {secret ? (
          <div className="secret">
            <code data-testid="webhook-secret">{secret}</code>
            <CopyButton text={secret} />
          </div>
        ) : null}
      </Modal>
    </div>
  );
}

function DeliveryLog({ endpoint, onClose }: { endpoint: Endpoint; onClose: () => void }) {
  const [page, setPage] = useState(1);
  const [shown, setShown] = useState<string | null>(null);
  const log = $api.useQuery("get", "/api/v1/webhooks/endpoints/{endpoint_id}/deliveries", {
    params: { path: { endpoint_id: endpoint.id }, query: { page, page_size: 20 } },
  });
  // Another delivery's excerpts are never shown in place of the chosen one's.
  const detail = $api.useQuery(
    "get",
    "/api/v1/webhooks/deliveries/{delivery_id}",
    { params: { path: { delivery_id: shown ?? "" } } },
    { enabled: shown !== null, placeholderData: undefined },
  );
  const test = useAction(
    async () => {
      await unwrap(client.POST("/api/v1/webhooks/endpoints/{endpoint_id}/test", { params: { path: { endpoint_id: endpoint.id } } }));
    },
    { invalidates: ["/api/v1/webhooks"] },
  );
  const redeliver = useAction(
    async (delivery: Delivery) => {
      await unwrap(client.POST("/api/v1/webhooks/deliveries/{delivery_id}/redeliver", { params: { path: { delivery_id: delivery.id } } }));
    },
    { invalidates: ["/api/v1/webhooks"] },
  );
  return (
    <section className="card stack" aria-label="Delivery log">
      <div className="row" style={{ justifyContent: "space-between", flexWrap: "wrap" }}>
        <h2 style={{ margin: 0, wordBreak: "break-all" }}>Deliveries to {endpoint.url}</h2>
        <div className="row" style={{ gap: 4 }}>
          <button type="button" className="btn btn-sm" onClick={() => void test.run()} disabled={test.busy}>
            Send test event
          </button>
          <button type="button" className="btn btn-sm" onClick={() => void log.refetch()}>
            Refresh
          </button>
          <button type="button" className="btn btn-sm" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
      <ErrorMessage error={log.error ?? test.error ?? redeliver.error} />
      {log.data ? (
        log.data.results.length ? (
          <div className="table-wrap">
            <table className="table table-stack">
              <thead>
                <tr>
                  <th>Event</th>
                  <th>Status</th>
                  <th className="hide-sm">Attempts</th>
                  <th className="hide-sm">Last attempt</th>
                  <th className="num">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {log.data.results.map((delivery) => (
                  <tr key={delivery.id} data-testid="delivery-row">
                    <td>
                      <span className="mono small">{delivery.event_type}</span>
                      <div className="muted small">{formatDate(delivery.created_at)}</div>
                    </td>
                    <td>
                      <Badge tone={TONES[delivery.status ?? "pending"]}>{delivery.status}</Badge>
                      {delivery.response_status ? <span className="muted small"> HTTP {delivery.response_status}</span> : null}
                      {delivery.error ? <div className="muted small">{delivery.error}</div> : null}
                    </td>
                    <td className="hide-sm">{delivery.attempts}</td>
                    <td className="hide-sm muted small">
                      {delivery.last_attempt_at ? formatDate(delivery.last_attempt_at) : "—"}
                      {delivery.next_attempt_at ? <div>next {formatDate(delivery.next_attempt_at)}</div> : null}
                    </td>
                    <td className="num">
                      <div className="row" style={{ gap: 4, justifyContent: "flex-end" }}>
                        <button type="button" className="btn btn-sm" onClick={() => setShown(shown === delivery.id ? null : delivery.id)}>
                          Details
                        </button>
                        <button type="button" className="btn btn-sm" onClick={() => void redeliver.run(delivery)}>
                          Redeliver
                        </button>
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty title="No deliveries yet">Send a test event to see one.</Empty>
        )
      ) : (
        <Loading />
      )}
      {log.data ? <Pager page={page} count={log.data.count} pageSize={20} onPage={setPage} /> : null}
      {shown && detail.data ? (
        <div className="stack" data-testid="delivery-detail">
          <h3 style={{ margin: 0 }}>Request</h3>
          <pre className="mono small" style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
            {detail.data.request_excerpt || "not sent yet"}
          </pre>
          <h3 style={{ margin: 0 }}>Response</h3>
          <pre className="mono small" style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
            {detail.data.response_excerpt || detail.data.error || "no answer"}
          </pre>
        </div>
      ) : null}
    </section>
  );
}
