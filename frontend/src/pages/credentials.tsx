// Provider credentials: keys are write-only (only their last characters come back).
import { type FormEvent, useState } from "react";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import type { Credential, CredentialProvider } from "../api/types";
import { usePermissions } from "../session";
import { Badge, Empty, ErrorMessage, formatDate, formatKeyHint, Loading, Modal, PageHeader, SelectField, TextField } from "../ui";
import { RerankersCard } from "./rerankers";

const PROVIDERS: { value: CredentialProvider; label: string }[] = [
  { value: "openai", label: "OpenAI" },
  { value: "anthropic", label: "Anthropic" },
  { value: "google", label: "Google" },
  { value: "openai_compatible", label: "OpenAI-compatible server (Ollama, vLLM, …)" },
];

/** Replaces a credential's key (the API keeps one credential per provider). */
function EditCredential({ credential, provider, onClose }: { credential: Credential; provider: string; onClose: () => void }) {
  const save = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const body: { api_key?: string; base_url?: string; organization_id?: string } = {};
      const key = String(form.get("api_key") ?? "");
      if (key) body.api_key = key; // empty: keep the stored key
      if (form.has("base_url")) body.base_url = String(form.get("base_url") ?? "");
      if (form.has("organization_id")) body.organization_id = String(form.get("organization_id") ?? "");
      await unwrap(client.PATCH("/api/v1/credentials/{credential_id}", { params: { path: { credential_id: credential.id } }, body }));
      onClose();
    },
    { invalidates: ["/api/v1/credentials"] },
  );
  return (
    <Modal open title={`Change the ${provider} credential`} onClose={onClose}>
      <form className="stack" onSubmit={save.run} noValidate>
        <TextField
          label="New API key"
          name="api_key"
          type="password"
          autoComplete="off"
          hint={`Leave empty to keep the current key (${credential.api_key_hint || "none"}).`}
          error={save.error}
          autoFocus
        />
        {credential.provider === "openai_compatible" || credential.provider === "openai" ? (
          <TextField label="Base URL" name="base_url" type="url" defaultValue={credential.base_url ?? ""} error={save.error} />
        ) : null}
        {credential.provider === "openai" ? (
          <TextField
            label="OpenAI organization id (optional)"
            name="organization_id"
            defaultValue={credential.organization_id ?? ""}
            error={save.error}
          />
        ) : null}
        <ErrorMessage error={save.error} />
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={save.busy}>
            Save changes
          </button>
        </div>
      </form>
    </Modal>
  );
}

function CredentialRow({ credential }: { credential: Credential }) {
  const [editing, setEditing] = useState(false);
  const test = useAction(
    async () => {
      await unwrap(client.POST("/api/v1/credentials/{credential_id}/test", { params: { path: { credential_id: credential.id } } }));
    },
    { invalidates: ["/api/v1/credentials"] },
  );
  const remove = useAction(
    async () => {
      if (!window.confirm("Delete this credential? Assistants using this provider fall back to the platform's key, if any.")) return;
      await unwrap(client.DELETE("/api/v1/credentials/{credential_id}", { params: { path: { credential_id: credential.id } } }));
    },
    { invalidates: ["/api/v1/credentials"] },
  );
  const provider = PROVIDERS.find((item) => item.value === credential.provider)?.label ?? credential.provider;
  return (
    <tr data-testid="credential-row">
      <td>
        <strong>{provider}</strong>
        {credential.base_url ? <div className="muted small mono">{credential.base_url}</div> : null}
        <ErrorMessage error={test.error ?? remove.error} />
      </td>
      <td className="mono nowrap" data-testid="credential-key">
        {formatKeyHint(credential.api_key_hint)}
      </td>
      <td data-testid="credential-test-result">
        {credential.last_tested_at ? (
          <>
            {credential.last_test_ok ? <Badge tone="success">works</Badge> : <Badge tone="danger">failed</Badge>}
            <div className="muted small">
              {credential.last_test_message ? `${credential.last_test_message} · ` : ""}
              {formatDate(credential.last_tested_at)}
            </div>
          </>
        ) : (
          <span className="muted small">not tested</span>
        )}
      </td>
      <td className="num">
        <div className="row" style={{ justifyContent: "flex-end", flexWrap: "nowrap" }}>
          <button
            type="button"
            className="btn btn-sm"
            disabled={test.busy}
            onClick={() => void test.run()}
            aria-label={`Test the ${provider} credential`}
          >
            {test.busy ? "Testing…" : "Test"}
          </button>
          <button type="button" className="btn btn-sm" onClick={() => setEditing(true)} aria-label={`Change the ${provider} credential`}>
            Change
          </button>
          <button
            type="button"
            className="btn btn-sm btn-danger"
            disabled={remove.busy}
            onClick={() => void remove.run()}
            aria-label={`Delete the ${provider} credential`}
          >
            Delete
          </button>
        </div>
        {editing ? <EditCredential credential={credential} provider={provider} onClose={() => setEditing(false)} /> : null}
      </td>
    </tr>
  );
}

export function CredentialsPage() {
  // Admins only (not in others' navigation); opened by address, the API's 403 explains.
  const { isAdmin } = usePermissions();
  const [adding, setAdding] = useState(false);
  const [provider, setProvider] = useState<CredentialProvider>("openai");
  const credentials = $api.useQuery("get", "/api/v1/credentials", { params: { query: { page_size: 100 } } });
  const add = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      await unwrap(
        client.POST("/api/v1/credentials", {
          body: {
            provider,
            api_key: String(form.get("api_key") ?? ""),
            base_url: String(form.get("base_url") ?? ""),
            organization_id: String(form.get("organization_id") ?? ""),
          },
        }),
      );
      setAdding(false);
    },
    { invalidates: ["/api/v1/credentials"] },
  );
  return (
    <div className="stack-lg">
      <PageHeader
        title="Provider credentials"
        description="Your organization's own keys for AI providers, and the rerankers search may use. Keys are stored encrypted and never shown again."
        actions={
          isAdmin ? (
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => {
                add.setError(null);
                setAdding(true);
              }}
            >
              Add credential
            </button>
          ) : null
        }
      />
      <section className="card" aria-label="Credentials">
        <ErrorMessage error={credentials.error} />
        {credentials.isPending ? <Loading /> : null}
        {credentials.data ? (
          credentials.data.results.length ? (
            <div className="table-wrap">
              <table className="table table-stack">
                <thead>
                  <tr>
                    <th>Provider</th>
                    <th>Key</th>
                    <th>Last test</th>
                    <th className="num">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {credentials.data.results.map((credential) => (
                    <CredentialRow key={credential.id} credential={credential} />
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Empty title="No credentials">Without one, assistants use the platform's default keys or the offline responder.</Empty>
          )
        ) : null}
      </section>
      {/* The credentials' 403 already tells others this page is not theirs. */}
      {isAdmin ? <RerankersCard /> : null}
      <Modal open={adding} title="Add a provider credential" onClose={() => setAdding(false)}>
        <form className="stack" onSubmit={add.run} noValidate>
          <SelectField
            label="Provider"
            name="provider"
            value={provider}
            onChange={(event) => setProvider(event.target.value as CredentialProvider)}
            error={add.error}
          >
            {PROVIDERS.map((item) => (
              <option key={item.value} value={item.value}>
                {item.label}
              </option>
            ))}
          </SelectField>
          <TextField
            label="API key"
            name="api_key"
            type="password"
            autoComplete="off"
            required={provider !== "openai_compatible"}
            error={add.error}
          />
          {provider === "openai_compatible" || provider === "openai" ? (
            <TextField
              label="Base URL"
              name="base_url"
              type="url"
              placeholder={provider === "openai" ? "https://api.openai.com/v1 (default)" : "http://localhost:11434/v1"}
              error={add.error}
            />
          ) : null}
          {provider === "openai" ? <TextField label="OpenAI organization id (optional)" name="organization_id" error={add.error} /> : null}
          <ErrorMessage error={add.error} />
          <div className="row" style={{ justifyContent: "flex-end" }}>
            <button type="button" className="btn" onClick={() => setAdding(false)}>
              Cancel
            </button>
            <button type="submit" className="btn btn-primary" disabled={add.busy}>
              Save credential
            </button>
          </div>
        </form>
      </Modal>
    </div>
  );
}
