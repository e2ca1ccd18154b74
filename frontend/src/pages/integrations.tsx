// Slack and Teams: connect, map channels to assistants, see status and errors, disconnect;
// and each member's own Gmail (pages/gmail.tsx).
// (Issue #15 endpoints; docs/integrations.md.)
import { type FormEvent, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import type { Integration } from "../api/types";
import { GmailSection } from "./gmail";
import { usePermissions } from "../session";
import { Badge, Empty, ErrorMessage, formatDate, Loading, Modal, PageHeader, SelectField, TextField } from "../ui";

type Assistant = { id: string; name: string };

function StatusBadge({ status }: { status?: string }) {
  if (status === "active") return <Badge tone="success">active</Badge>;
  if (status === "error") return <Badge tone="warning">needs attention</Badge>;
  return <Badge tone="danger">disconnected</Badge>;
}

function IntegrationCard({ integration, assistants }: { integration: Integration; assistants: Assistant[] }) {
  const [showEvents, setShowEvents] = useState(false);
  const events = $api.useQuery(
    "get",
    "/api/v1/integrations/{integration_id}/events",
    { params: { path: { integration_id: integration.id }, query: { page_size: 20 } } },
    { enabled: showEvents, select: (data) => data.results, staleTime: 0 },
  );
  const nameOf = (id?: string | null) => assistants.find((a) => a.id === id)?.name ?? "—";
  const save = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const element = event.currentTarget;
      const form = new FormData(element);
      const fallback = String(form.get("default_assistant") ?? "");
      const channel = String(form.get("channel_id") ?? "").trim();
      const channelAssistant = String(form.get("channel_assistant") ?? "");
      const channels = integration.channels.map((c) => ({ channel_id: c.channel_id, assistant: c.assistant }));
      if (channel && channelAssistant) channels.push({ channel_id: channel, assistant: channelAssistant });
      await unwrap(
        client.PATCH("/api/v1/integrations/{integration_id}", {
          params: { path: { integration_id: integration.id } },
          body: { default_assistant: fallback || null, channels },
        }),
      );
      element.reset();
    },
    { invalidates: ["/api/v1/integrations"] },
  );
  const unmap = useAction(
    async (channelId: string) => {
      await unwrap(
        client.PATCH("/api/v1/integrations/{integration_id}", {
          params: { path: { integration_id: integration.id } },
          body: {
            channels: integration.channels
              .filter((c) => c.channel_id !== channelId)
              .map((c) => ({ channel_id: c.channel_id, assistant: c.assistant })),
          },
        }),
      );
    },
    { invalidates: ["/api/v1/integrations"] },
  );
  const disconnect = useAction(
    async () => {
      if (!window.confirm(`Disconnect ${integration.name}? The bot stops answering at once; past conversations stay in the dashboard.`))
        return;
      await unwrap(client.DELETE("/api/v1/integrations/{integration_id}", { params: { path: { integration_id: integration.id } } }));
    },
    { invalidates: ["/api/v1/integrations"] },
  );
  const download = useAction(async () => {
    const response = await fetch(`/api/v1/integrations/${integration.id}/teams-package`, { credentials: "same-origin" });
    if (!response.ok) throw new Error("The package could not be downloaded.");
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = "teams-app.zip";
    link.click();
    URL.revokeObjectURL(url);
  });
  const active = integration.status !== "disconnected";
  const isSlack = integration.provider === "slack";
  return (
    <section className="card card-body stack" aria-label={`${integration.provider} ${integration.name}`} data-testid="integration-card">
      <div className="row" style={{ justifyContent: "space-between", flexWrap: "wrap", gap: 8 }}>
        <div>
          <h2 style={{ margin: 0, fontSize: "1.05rem" }}>
            {isSlack ? "Slack" : "Microsoft Teams"}: {integration.name}
          </h2>
          <div className="muted small">
            {isSlack ? `workspace ${integration.external_id}` : `bot ${integration.external_id}`} · connected{" "}
            {formatDate(integration.created_at)}
            {integration.installed_by?.email ? ` by ${integration.installed_by.email}` : ""} · last event{" "}
            {integration.last_event_at ? formatDate(integration.last_event_at) : "none yet"}
          </div>
        </div>
        <div className="row" style={{ gap: 8, flexWrap: "wrap" }}>
          <StatusBadge status={integration.status} />
          {!isSlack && active ? (
            <button type="button" className="btn btn-sm" onClick={() => void download.run()}>
              Download Teams app
            </button>
          ) : null}
          {active ? (
            <button type="button" className="btn btn-sm btn-danger" onClick={() => void disconnect.run()}>
              Disconnect
            </button>
          ) : null}
        </div>
      </div>
      <ErrorMessage error={disconnect.error ?? download.error ?? unmap.error} />
      {integration.last_error ? (
        <div className="alert alert-warning" role="status" data-testid="integration-error">
          <strong>Last problem</strong> ({formatDate(integration.last_error_at)}): {integration.last_error}
        </div>
      ) : null}
      {active ? (
        <>
          <div>
            <strong>Answers with</strong> {nameOf(integration.default_assistant)} <span className="muted small">(default)</span>
            {integration.channels.length ? (
              <ul className="stack-sm" style={{ margin: "8px 0 0", paddingLeft: 18 }}>
                {integration.channels.map((c) => (
                  <li key={c.channel_id}>
                    <span className="mono small">{c.channel_id}</span> → {nameOf(c.assistant)}{" "}
                    <button
                      type="button"
                      className="btn btn-sm btn-ghost"
                      onClick={() => void unmap.run(c.channel_id)}
                      aria-label={`Remove the mapping of ${c.channel_id}`}
                    >
                      remove
                    </button>
                  </li>
                ))}
              </ul>
            ) : null}
          </div>
          <form className="stack" onSubmit={save.run} noValidate>
            <SelectField
              label="Default assistant"
              name="default_assistant"
              defaultValue={integration.default_assistant ?? ""}
              error={save.error}
            >
              <option value="">None (the bot says so)</option>
              {assistants.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </SelectField>
            <TextField
              label={isSlack ? "Channel id (optional)" : "Channel or team id (optional)"}
              name="channel_id"
              placeholder={isSlack ? "C0123456789" : "19:…@thread.tacv2"}
              error={save.error}
            />
            <SelectField label="Its assistant" name="channel_assistant" defaultValue="" error={save.error}>
              <option value="">—</option>
              {assistants.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </SelectField>
            <div>
              <button type="submit" className="btn btn-primary" disabled={save.busy}>
                Save
              </button>
            </div>
          </form>
        </>
      ) : null}
      <div>
        <button type="button" className="btn btn-sm" aria-expanded={showEvents} onClick={() => setShowEvents(!showEvents)}>
          {showEvents ? "Hide" : "Show"} recent events
        </button>
        {showEvents ? (
          events.isPending ? (
            <Loading />
          ) : events.data?.length ? (
            <ul className="stack-sm" style={{ marginTop: 8, paddingLeft: 18 }} data-testid="integration-events">
              {events.data.map((e) => (
                <li key={e.id}>
                  {e.level === "error" ? <Badge tone="danger">error</Badge> : <Badge>{e.kind}</Badge>}{" "}
                  <span className="small">{e.summary}</span> <span className="muted small">{formatDate(e.created_at)}</span>
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted small">Nothing received yet.</p>
          )
        ) : null}
      </div>
    </section>
  );
}

// Members (not admins) see their own Gmail only; viewers nothing to connect.
export function IntegrationsPage() {
  const { isAdmin, canEdit } = usePermissions();
  const assistants = $api.useQuery(
    "get",
    "/api/v1/assistants",
    { params: { query: { page_size: 100 } } },
    { enabled: canEdit, select: (data) => data.results as Assistant[] },
  );
  if (isAdmin) return <AdminIntegrations assistants={assistants.data ?? []} />;
  return (
    <div className="stack-lg">
      <PageHeader title="Integrations" description="Your own Gmail: sync a label into your knowledge, draft replies with an assistant." />
      {canEdit ? (
        <GmailSection assistants={assistants.data ?? []} />
      ) : (
        <p className="muted">Viewers cannot connect integrations. Ask an admin for the member role.</p>
      )}
    </div>
  );
}

function AdminIntegrations({ assistants: assistantList }: { assistants: Assistant[] }) {
  const [params] = useSearchParams();
  const [teamsOpen, setTeamsOpen] = useState(false);
  const integrations = $api.useQuery("get", "/api/v1/integrations", { params: { query: { page_size: 100 } } });
  const assistants = { data: assistantList };
  const slack = useAction(async () => {
    const { url } = await unwrap(client.POST("/api/v1/integrations/slack/install"));
    window.location.assign(url);
  });
  const teams = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      await unwrap(
        client.POST("/api/v1/integrations/teams", {
          body: {
            name: String(form.get("name") ?? ""),
            app_id: String(form.get("app_id") ?? ""),
            app_password: String(form.get("app_password") ?? ""),
            tenant_id: String(form.get("tenant_id") ?? ""),
          },
        }),
      );
      setTeamsOpen(false);
    },
    { invalidates: ["/api/v1/integrations"] },
  );
  const outcome = params.get("slack");
  return (
    <div className="stack-lg">
      <PageHeader
        title="Integrations"
        description="Your assistants in Slack and Microsoft Teams: they answer in threads, cite your knowledge and count against the same quotas."
        actions={
          <div className="row" style={{ gap: 8, flexWrap: "wrap" }}>
            <button type="button" className="btn btn-primary" onClick={() => void slack.run()} disabled={slack.busy}>
              Add to Slack
            </button>
            <button
              type="button"
              className="btn"
              onClick={() => {
                teams.setError(null);
                setTeamsOpen(true);
              }}
            >
              Connect Teams
            </button>
          </div>
        }
      />
      {outcome === "connected" ? (
        <div className="alert alert-success" role="status">
          Slack is connected. Invite the bot to a channel and mention it.
        </div>
      ) : null}
      {outcome === "error" ? (
        <div className="alert alert-error" role="alert">
          {params.get("code") === "workspace_claimed"
            ? "This Slack workspace is already connected to another organization."
            : "Slack refused the installation. Try again."}
        </div>
      ) : null}
      <ErrorMessage error={slack.error} />
      <ErrorMessage error={integrations.error} />
      {integrations.isPending ? <Loading /> : null}
      {integrations.data ? (
        integrations.data.results.length ? (
          integrations.data.results.map((integration) => (
            <IntegrationCard key={integration.id} integration={integration} assistants={assistants.data ?? []} />
          ))
        ) : (
          <section className="card">
            <Empty title="No Slack or Teams yet">
              Add the bot to Slack, or connect your own Teams bot, then choose which assistant answers.
            </Empty>
          </section>
        )
      ) : null}
      <GmailSection assistants={assistantList} />
      <Modal open={teamsOpen} title="Connect a Teams bot" onClose={() => setTeamsOpen(false)}>
        <form className="stack" onSubmit={teams.run} noValidate>
          <p className="muted small">
            Register a bot in Azure (Azure Bot, single-tenant), set its messaging endpoint to this platform's{" "}
            <span className="mono">/integrations/teams/messages</span>, then enter its credentials. You can download the Teams app package
            afterwards.
          </p>
          <TextField label="Name" name="name" placeholder="e.g. Support assistant" error={teams.error} />
          <TextField
            label="Microsoft App ID"
            name="app_id"
            required
            placeholder="00000000-0000-0000-0000-000000000000"
            error={teams.error}
          />
          <TextField label="Client secret" name="app_password" type="password" required autoComplete="off" error={teams.error} />
          <TextField
            label="Directory (tenant) ID"
            name="tenant_id"
            required
            placeholder="00000000-0000-0000-0000-000000000000"
            error={teams.error}
          />
          <div className="row" style={{ justifyContent: "flex-end", gap: 8 }}>
            <button type="button" className="btn" onClick={() => setTeamsOpen(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={teams.busy}>
              Connect
            </button>
          </div>
        </form>
      </Modal>
    </div>
  );
}
