// API keys: scopes, the secret shown once, revoke. (Issue #6 endpoints.)
import { type FormEvent, useState } from "react";
import { useToast } from "../ui/toast";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import { API_KEY_SCOPES, type ApiKey, type ApiKeyScope } from "../api/types";
import { usePermissions } from "../session";
import { Badge, CopyButton, Empty, ErrorMessage, FieldErrors, formatDate, Loading, Modal, PageHeader, Pager, TextField } from "../ui";

export function ApiKeysPage() {
  // Admins only (not in others' navigation); opened by address, the API's 403 explains.
  const { isAdmin } = usePermissions();
  const toast = useToast();
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ key: string } | null>(null);
  const keys = $api.useQuery("get", "/api/v1/api-keys", { params: { query: { page, page_size: 50 } } });
  const assistants = $api.useQuery(
    "get",
    "/api/v1/assistants",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results },
  );
  const create = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const expires = String(form.get("expires_at") ?? "");
      const key = await unwrap(
        client.POST("/api/v1/api-keys", {
          body: {
            name: String(form.get("name") ?? ""),
            scopes: form.getAll("scopes").map(String) as ApiKeyScope[],
            assistants: form.getAll("assistants").map(String),
            expires_at: expires ? new Date(`${expires}T23:59:59`).toISOString() : null,
          },
        }),
      );
      setCreating(false);
      setCreated(key);
      toast(`API key “${key.name}” created: copy it now, it is shown once.`);
    },
    { invalidates: ["/api/v1/api-keys"] },
  );
  const revoke = useAction(
    async (key: ApiKey) => {
      if (!window.confirm(`Revoke "${key.name}"? Programs using it stop working at once.`)) return;
      await unwrap(client.POST("/api/v1/api-keys/{api_key_id}/revoke", { params: { path: { api_key_id: key.id } } }));
    },
    { invalidates: ["/api/v1/api-keys"] },
  );
  return (
    <div className="stack-lg">
      <PageHeader
        title="API keys"
        description="Keys let programs call the API with the scopes you give them."
        actions={
          isAdmin ? (
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => {
                create.setError(null);
                setCreating(true);
              }}
            >
              New API key
            </button>
          ) : null
        }
      />
      <ErrorMessage error={revoke.error} />
      <section className="card" aria-label="API keys">
        <ErrorMessage error={keys.error} />
        {keys.isPending ? <Loading /> : null}
        {keys.data ? (
          keys.data.results.length ? (
            <div className="table-wrap">
              <table className="table table-stack">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Key</th>
                    <th>Scopes</th>
                    <th className="hide-sm">Last used</th>
                    <th>Status</th>
                    <th className="num">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.results.map((key) => (
                    <tr key={key.id} data-testid="api-key-row">
                      <td>
                        <strong>{key.name}</strong>
                        <div className="muted small">
                          created {formatDate(key.created_at)}
                          {key.created_by ? ` by ${key.created_by.email}` : ""}
                        </div>
                      </td>
                      <td className="mono small">{key.prefix}…</td>
                      <td>
                        <div className="row" style={{ gap: 4 }}>
                          {key.scopes.map((scope) => (
                            <Badge key={scope}>{scope}</Badge>
                          ))}
                        </div>
                      </td>
                      <td className="hide-sm muted small">
                        {key.last_used_at
                          ? `${formatDate(key.last_used_at)}${key.last_used_ip ? ` from ${key.last_used_ip}` : ""}`
                          : "never"}
                      </td>
                      <td>
                        {key.revoked_at ? (
                          <Badge tone="danger">revoked</Badge>
                        ) : key.is_active ? (
                          <Badge tone="success">active</Badge>
                        ) : (
                          <Badge tone="warning">expired</Badge>
                        )}
                        {key.expires_at && !key.revoked_at ? <div className="muted small">until {formatDate(key.expires_at)}</div> : null}
                      </td>
                      <td className="num">
                        {!key.revoked_at ? (
                          <button
                            type="button"
                            className="btn btn-sm btn-danger"
                            onClick={() => void revoke.run(key)}
                            aria-label={`Revoke ${key.name}`}
                          >
                            Revoke
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty title="No API keys yet">Create one for each program that calls the API.</Empty>
          )
        ) : null}
        {keys.data ? <Pager page={page} count={keys.data.count} pageSize={50} onPage={setPage} /> : null}
      </section>

      <Modal open={creating} title="New API key" onClose={() => setCreating(false)}>
        <form className="stack" onSubmit={create.run} noValidate>
          <TextField label="Name" name="name" required autoFocus placeholder="e.g. Support website" error={create.error} />
          <fieldset>
            <legend>Scopes</legend>
            <div className="checks">
              {API_KEY_SCOPES.map((scope) => (
                <label key={scope} className="check">
                  <input type="checkbox" name="scopes" value={scope} defaultChecked={scope === "chat:write"} />
                  <span className="mono">{scope}</span>
                </label>
              ))}
            </div>
            <FieldErrors error={create.error} name="scopes" />
          </fieldset>
          {assistants.data?.length ? (
            <fieldset>
              <legend>Limit to assistants (optional)</legend>
              <div className="checks">
                {assistants.data.map((assistant) => (
                  <label key={assistant.id} className="check">
                    <input type="checkbox" name="assistants" value={assistant.id} />
                    {assistant.name}
                  </label>
                ))}
              </div>
              <FieldErrors error={create.error} name="assistants" />
            </fieldset>
          ) : null}
          <TextField label="Expires on (optional)" name="expires_at" type="date" error={create.error} />
          <ErrorMessage error={create.error} />
          <div className="row" style={{ justifyContent: "flex-end" }}>
            <button type="button" className="btn" onClick={() => setCreating(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={create.busy}>
              Create key
            </button>
          </div>
        </form>
      </Modal>

      <Modal
        open={created !== null}
        title="Your new API key"
        onClose={() => setCreated(null)}
        footer={
          <button type="button" className="btn btn-primary" onClick={() => setCreated(null)}>
            Done
          </button>
        }
      >
        <div className="alert alert-warning" role="status">
          Copy the key now: it is shown only once.
        </div>
        {created ? (
          <div className="secret">
            <code data-testid="api-key-secret">{created.key}</code>
            <CopyButton text={created.key} />
          </div>
        ) : null}
      </Modal>
    </div>
  );
}
