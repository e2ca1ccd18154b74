// Rerankers (ADR 0100): cross-encoders on a server of the organization's that reorder the
// retrieved passages. A card of the credentials page (admins only, as the API is): the
// key is write-only like a credential's, only its last characters come back.
import { type FormEvent, useState } from "react";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import type { Reranker, RerankerFormat } from "../api/types";
import { Empty, ErrorMessage, formatKeyHint, Loading, Modal, SelectField, TextField } from "../ui";

export const RERANKER_FORMATS: { value: RerankerFormat; label: string }[] = [
  { value: "cohere", label: "Cohere/Jina-style (Cohere, Jina, vLLM)" },
  { value: "tei", label: "text-embeddings-inference" },
];

// Saving one changes what assistants and the search playground may choose.
const INVALIDATES = ["/api/v1/rerankers", "/api/v1/assistants"];

/** Adds a reranker, or changes one (`reranker`): a refusal is said under its field and the
 * form stays open with what was typed. */
function RerankerForm({ reranker, onClose }: { reranker?: Reranker; onClose: () => void }) {
  const [format, setFormat] = useState<RerankerFormat>(reranker?.api_format ?? "cohere");
  const save = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const body = {
        name: String(form.get("name") ?? ""),
        api_format: format,
        base_url: String(form.get("base_url") ?? ""),
        model: format === "cohere" ? String(form.get("model") ?? "") : "",
        api_key: String(form.get("api_key") ?? ""),
      };
      if (reranker) {
        const { api_key, ...changes } = body;
        await unwrap(
          client.PATCH("/api/v1/rerankers/{reranker_id}", {
            params: { path: { reranker_id: reranker.id } },
            body: api_key ? body : changes, // empty: keep the stored key
          }),
        );
      } else {
        await unwrap(client.POST("/api/v1/rerankers", { body }));
      }
      onClose();
    },
    { invalidates: INVALIDATES },
  );
  return (
    <form className="stack" onSubmit={save.run} noValidate>
      <TextField label="Name" name="name" required defaultValue={reranker?.name ?? ""} error={save.error} autoFocus />
      <SelectField
        label="Format"
        name="api_format"
        value={format}
        onChange={(event) => setFormat(event.target.value as RerankerFormat)}
        error={save.error}
        hint="What the server's POST /rerank speaks."
      >
        {RERANKER_FORMATS.map((item) => (
          <option key={item.value} value={item.value}>
            {item.label}
          </option>
        ))}
      </SelectField>
      <TextField
        label="Base URL"
        name="base_url"
        type="url"
        required
        defaultValue={reranker?.base_url ?? ""}
        placeholder="https://rerank.example.com/v1"
        hint="The server's API root: requests go to {base URL}/rerank."
        error={save.error}
      />
      {format === "cohere" ? (
        <TextField label="Model" name="model" defaultValue={reranker?.model ?? ""} placeholder="rerank-v3.5" error={save.error} />
      ) : null}
      <TextField
        label={reranker ? "New API key" : "API key (optional)"}
        name="api_key"
        type="password"
        autoComplete="off"
        hint={reranker ? `Leave empty to keep the current key (${reranker.api_key_hint || "none"}).` : "Sent as a bearer token."}
        error={save.error}
      />
      <ErrorMessage error={save.error} />
      <div className="row" style={{ justifyContent: "flex-end" }}>
        <button type="button" className="btn" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={save.busy}>
          {reranker ? "Save changes" : "Save reranker"}
        </button>
      </div>
    </form>
  );
}

function RerankerRow({ reranker }: { reranker: Reranker }) {
  const [editing, setEditing] = useState(false);
  const remove = useAction(
    async () => {
      if (!window.confirm(`Delete the reranker “${reranker.name}”? Assistants using it stop reranking.`)) return;
      await unwrap(client.DELETE("/api/v1/rerankers/{reranker_id}", { params: { path: { reranker_id: reranker.id } } }));
    },
    { invalidates: INVALIDATES },
  );
  const format = RERANKER_FORMATS.find((item) => item.value === reranker.api_format)?.label ?? reranker.api_format;
  return (
    <tr data-testid="reranker-row">
      <td>
        <strong>{reranker.name}</strong>
        <div className="muted small mono">{reranker.base_url}</div>
        <ErrorMessage error={remove.error} />
      </td>
      <td className="small">
        {format}
        {reranker.model ? <div className="muted mono">{reranker.model}</div> : null}
      </td>
      <td className="mono nowrap" data-testid="reranker-key">
        {formatKeyHint(reranker.api_key_hint)}
      </td>
      <td className="num">
        <div className="row" style={{ justifyContent: "flex-end", flexWrap: "nowrap" }}>
          <button type="button" className="btn btn-sm" onClick={() => setEditing(true)} aria-label={`Change the reranker ${reranker.name}`}>
            Change
          </button>
          <button
            type="button"
            className="btn btn-sm btn-danger"
            disabled={remove.busy}
            onClick={() => void remove.run()}
            aria-label={`Delete the reranker ${reranker.name}`}
          >
            Delete
          </button>
        </div>
        <Modal open={editing} title={`Change the reranker ${reranker.name}`} onClose={() => setEditing(false)}>
          <RerankerForm reranker={reranker} onClose={() => setEditing(false)} />
        </Modal>
      </td>
    </tr>
  );
}

export function RerankersCard() {
  const [adding, setAdding] = useState(false);
  const rerankers = $api.useQuery("get", "/api/v1/rerankers", { params: { query: { page_size: 100 } } });
  return (
    <section className="card" aria-labelledby="rerankers-title" id="rerankers">
      <div className="card-header">
        <div style={{ flex: "1 1 18rem" }}>
          <h2 id="rerankers-title">Rerankers</h2>
          <span className="muted small">
            Cross-encoders on a server of yours that reorder the passages search finds; chosen per assistant and in the search playground.
          </span>
        </div>
        <button type="button" className="btn btn-primary" onClick={() => setAdding(true)}>
          Add reranker
        </button>
      </div>
      <ErrorMessage error={rerankers.error} />
      {rerankers.isPending ? <Loading /> : null}
      {rerankers.data ? (
        rerankers.data.results.length ? (
          <div className="table-wrap">
            <table className="table table-stack">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Format</th>
                  <th>Key</th>
                  <th className="num">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rerankers.data.results.map((reranker) => (
                  <RerankerRow key={reranker.id} reranker={reranker} />
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <Empty title="No rerankers">
            Search keeps its own order. Add a text-embeddings-inference, vLLM or hosted /rerank server to reorder the best passages.
          </Empty>
        )
      ) : null}
      <Modal open={adding} title="Add a reranker" onClose={() => setAdding(false)}>
        <RerankerForm onClose={() => setAdding(false)} />
      </Modal>
    </section>
  );
}
