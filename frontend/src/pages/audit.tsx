// The audit log: who changed what, when, from where. (Issue #6 endpoint.)
import { type FormEvent, useState } from "react";
import { client, unwrap } from "../api/client";
import type { AuditAction } from "../api/types";
import { usePermissions } from "../session";
import { Empty, ErrorMessage, formatDate, Loading, PageHeader, Pager, SelectField, TextField, useAsync } from "../ui";

// Kept in step with the schema's ActionEnum by the type checker.
const ACTIONS: AuditAction[] = [
  "api_key.created",
  "api_key.revoked",
  "member.role_changed",
  "member.removed",
  "assistant.created",
  "assistant.updated",
  "assistant.deleted",
  "credential.created",
  "credential.updated",
  "credential.deleted",
  "billing.plan_changed",
];

export function AuditPage() {
  // Admins only: others (who came by address) get the API's 403 and no filters.
  const { isAdmin } = usePermissions();
  const [filters, setFilters] = useState({ action: "", start: "", end: "" });
  const [page, setPage] = useState(1);
  const events = useAsync(
    () =>
      unwrap(
        client.GET("/api/v1/audit-events", {
          params: {
            query: {
              page,
              page_size: 50,
              action: (filters.action || undefined) as AuditAction | undefined,
              start: filters.start || undefined,
              end: filters.end || undefined,
            },
          },
        }),
      ),
    [filters, page],
  );
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPage(1);
    setFilters({ action: String(form.get("action") ?? ""), start: String(form.get("start") ?? ""), end: String(form.get("end") ?? "") });
  };
  return (
    <div className="stack-lg">
      <PageHeader title="Audit log" description="Every change to the organization's settings, members, keys and content." />
      {isAdmin ? (
        <form className="card card-body row" style={{ alignItems: "flex-end" }} onSubmit={apply} aria-label="Filter events">
          <div className="grow">
            <SelectField label="Action" name="action" defaultValue="">
              <option value="">All actions</option>
              {ACTIONS.map((action) => (
                <option key={action} value={action}>
                  {action}
                </option>
              ))}
            </SelectField>
          </div>
          <div>
            <TextField label="From" name="start" type="date" />
          </div>
          <div>
            <TextField label="To" name="end" type="date" />
          </div>
          <button type="submit" className="btn">
            Filter
          </button>
        </form>
      ) : null}
      <section className="card" aria-label="Events">
        <ErrorMessage error={events.error} />
        {events.loading && !events.data ? <Loading /> : null}
        {events.data ? (
          events.data.results.length ? (
            <div className="table-wrap">
              <table className="table table-stack">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Who</th>
                    <th>Action</th>
                    <th>Target</th>
                    <th className="hide-sm">Changes</th>
                  </tr>
                </thead>
                <tbody>
                  {events.data.results.map((event) => (
                    <tr key={event.id} data-testid="audit-row">
                      <td className="small nowrap">{formatDate(event.created_at)}</td>
                      <td className="small">
                        {event.actor?.email ?? (event.api_key ? `API key ${event.api_key.label}` : "system")}
                        {event.ip_address ? <div className="muted small">{event.ip_address}</div> : null}
                      </td>
                      <td className="mono small">{event.action}</td>
                      <td className="small">
                        {event.target_label || event.target_id}
                        <div className="muted small">{event.target_type}</div>
                      </td>
                      <td className="hide-sm mono small" style={{ maxWidth: 340, overflowWrap: "anywhere" }}>
                        {event.changes && Object.keys(event.changes).length ? JSON.stringify(event.changes) : "—"}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty title="No events match" />
          )
        ) : null}
        {events.data ? <Pager page={page} count={events.data.count} pageSize={50} onPage={setPage} /> : null}
      </section>
    </div>
  );
}
