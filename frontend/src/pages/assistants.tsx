// Assistants: list, create and edit (model from the catalog with its prices), test reply.
import { type FormEvent, useState } from "react";
import { useToast } from "../ui/toast";
import { Link, useNavigate, useParams } from "react-router-dom";
import { client, unwrap } from "../api/client";
import { $api, useAction } from "../api/query";
import { useQueryClient } from "@tanstack/react-query";
import type { AIModel, Assistant, AssistantInput, AssistantTestReply, Reranker } from "../api/types";
import { Markdown } from "../ui/markdown";
import { usePermissions } from "../session";
import {
  Badge,
  Empty,
  ErrorMessage,
  Field,
  FieldErrors,
  formatCost,
  formatNumber,
  Loading,
  PageHeader,
  SelectField,
  TextAreaField,
  TextField,
} from "../ui";

function modelLabel(
  model: Pick<AIModel, "display_name" | "provider" | "input_price_per_million" | "output_price_per_million" | "currency" | "answer_mode">,
) {
  if (model.answer_mode === "extractive") return `${model.display_name} · free`;
  const currency = model.currency || "USD";
  return `${model.display_name} · ${model.provider} · in ${formatCost(model.input_price_per_million, currency)} / out ${formatCost(model.output_price_per_million, currency)} per 1M tokens`;
}

export function AssistantsPage() {
  const { canEdit } = usePermissions();
  const assistants = $api.useQuery("get", "/api/v1/assistants", { params: { query: { page_size: 100 } } });
  return (
    <>
      <PageHeader
        title="Assistants"
        description="Each assistant answers with a model, its instructions and your knowledge."
        actions={
          canEdit ? (
            <Link className="btn btn-primary" to="/assistants/new">
              New assistant
            </Link>
          ) : null
        }
      />
      <ErrorMessage error={assistants.error} />
      {assistants.isPending ? <Loading /> : null}
      {assistants.data ? (
        assistants.data.results.length ? (
          <div className="grid-3">
            {assistants.data.results.map((assistant) => (
              <Link
                key={assistant.id}
                to={`/assistants/${assistant.id}`}
                className="card"
                style={{ color: "inherit", textDecoration: "none" }}
                data-testid="assistant-card"
              >
                <div className="card-body stack" style={{ gap: 8 }}>
                  <div className="row-between">
                    <h2>{assistant.name}</h2>
                    {assistant.is_active === false ? <Badge>inactive</Badge> : <Badge tone="success">active</Badge>}
                  </div>
                  <p className="muted small">{assistant.description || "No description."}</p>
                  <div className="row small">
                    <Badge tone="accent">{assistant.model.display_name}</Badge>
                    <Badge>
                      {assistant.retrieval_mode ?? "hybrid"} · top {assistant.retrieval_top_k ?? 8}
                    </Badge>
                    <Badge>{assistant.collections.length} collections</Badge>
                  </div>
                </div>
              </Link>
            ))}
          </div>
        ) : (
          <div className="card">
            <Empty title="No assistants yet">{canEdit ? <Link to="/assistants/new">Create the first one</Link> : null}</Empty>
          </div>
        )
      ) : null}
    </>
  );
}

function TestReply({ assistant }: { assistant: Assistant }) {
  const [result, setResult] = useState<AssistantTestReply | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const test = useAction(async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const message = String(new FormData(event.currentTarget).get("message") ?? "");
    setResult(
      await unwrap(
        client.POST("/api/v1/assistants/{assistant_id}/test", { params: { path: { assistant_id: assistant.id } }, body: { message } }),
      ),
    );
  });
  return (
    <section className="card" aria-labelledby="test-reply-title">
      <div className="card-header">
        <h2 id="test-reply-title">Test reply</h2>
        <span className="muted small">One answer as chat gives it (knowledge, sources, cost), not stored as a conversation.</span>
      </div>
      <form className="card-body stack" onSubmit={test.run} noValidate>
        <TextAreaField
          label="Test message"
          name="message"
          rows={3}
          required
          placeholder="Ask something your users would ask…"
          error={test.error}
        />
        <ErrorMessage error={test.error} />
        <div>
          <button type="submit" className="btn btn-primary" disabled={test.busy}>
            {test.busy ? "Waiting for the reply…" : "Send test message"}
          </button>
        </div>
        {result ? (
          <div className="stack" aria-live="polite">
            <div className="bubble bubble-md test-reply" data-testid="test-reply">
              <Markdown
                text={result.reply}
                citations={result.sources.map((source) => ({
                  index: source.index,
                  label: `Source ${source.index}: ${source.document_title}`,
                }))}
                onCite={(index) => setOpen(index)}
              />
            </div>
            {result.sources.length ? (
              <div className="stack" style={{ gap: 6 }}>
                <div className="small muted">
                  Searched the knowledge for “{result.retrieval_query}”: {result.sources.length} passage
                  {result.sources.length === 1 ? "" : "s"}, {result.sources.filter((source) => source.cited).length} cited.
                </div>
                <ol className="test-sources" data-testid="test-reply-sources">
                  {result.sources.map((source) => (
                    <li key={source.index} className={open === source.index ? "open" : ""}>
                      <span className="badge">{source.index}</span> {source.document_title}
                      {source.page ? `, p. ${source.page}` : ""}
                      {source.cited ? (
                        <span style={{ marginLeft: 6 }}>
                          <Badge tone="accent">cited</Badge>
                        </span>
                      ) : null}
                    </li>
                  ))}
                </ol>
              </div>
            ) : (
              <div className="small muted" data-testid="test-reply-no-sources">
                No passage of this assistant's knowledge matched{assistant.collections?.length ? "" : " (it has no collections)"}.
              </div>
            )}
            <div className="row small muted">
              <Badge tone="accent">{result.model}</Badge>
              {result.fell_back ? <Badge tone="warning">fallback model</Badge> : null}
              <span>
                {formatNumber(result.usage.total_tokens)} tokens ({formatNumber(result.usage.prompt_tokens)} in,{" "}
                {formatNumber(result.usage.completion_tokens)} out)
              </span>
              <span>· {formatCost(result.cost, result.currency)}</span>
              <span>· {(result.latency_ms / 1000).toFixed(2)} s</span>
            </div>
          </div>
        ) : null}
      </form>
    </section>
  );
}

/** The assistant's reranker (ADR 0100) and how many candidates it reads. Admins choose
 * among the organization's rerankers; others, who may not list them, see whether one is
 * set and may change the number of candidates. */
function RerankFields({
  data,
  rerankers,
  error,
}: {
  data?: Assistant;
  rerankers: { data?: Reranker[]; error: unknown } | null;
  error: unknown;
}) {
  const candidates = (
    <TextField
      label="Candidates to rerank"
      name="rerank_candidates"
      type="number"
      min={1}
      max={100}
      defaultValue={data?.rerank_candidates ?? 30}
      error={error}
      hint="The best passages the reranker reads before the top k are kept (at least top k)."
    />
  );
  if (!rerankers) {
    return data?.reranker ? (
      <div className="grid-2">
        <div className="field">
          <span className="label">Reranker</span>
          <p className="muted small" data-testid="assistant-reranker-set">
            A reranker reorders the passages (an admin chooses it).
          </p>
        </div>
        {candidates}
      </div>
    ) : null;
  }
  return (
    <div className="grid-2">
      <SelectField
        label="Reranker"
        name="reranker"
        defaultValue={data?.reranker ?? ""}
        // Chosen once the list is here (until then the form leaves the choice as it is).
        key={rerankers.data ? "loaded" : "loading"}
        disabled={!rerankers.data}
        error={error}
        hint={
          rerankers.data && !rerankers.data.length ? (
            <>
              None yet: <Link to="/credentials#rerankers">add one</Link>.
            </>
          ) : (
            "Reorders the retrieved passages before the best are kept."
          )
        }
      >
        <option value="">None</option>
        {(rerankers.data ?? []).map((reranker) => (
          <option key={reranker.id} value={reranker.id}>
            {reranker.name}
          </option>
        ))}
      </SelectField>
      {candidates}
      <ErrorMessage error={rerankers.error} />
    </div>
  );
}

export function AssistantEditPage() {
  const { assistantId } = useParams();
  const isNew = !assistantId;
  const navigate = useNavigate();
  const toast = useToast();
  const { canEdit, isAdmin } = usePermissions();
  const queryClient = useQueryClient();
  const assistantQuery = (id: string) =>
    $api.queryOptions("get", "/api/v1/assistants/{assistant_id}", { params: { path: { assistant_id: id } } });
  const assistant = $api.useQuery(
    "get",
    "/api/v1/assistants/{assistant_id}",
    { params: { path: { assistant_id: assistantId ?? "" } } },
    { enabled: !isNew, placeholderData: undefined },
  );
  // The model catalog changes with a deployment, not while a page is open.
  const models = $api.useQuery(
    "get",
    "/api/v1/models",
    { params: { query: { capability: "chat", page_size: 100 } } },
    { select: (data) => data.results, staleTime: 5 * 60_000 },
  );
  const collections = $api.useQuery(
    "get",
    "/api/v1/collections",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results },
  );
  // Only admins may list rerankers (they hold keys); others keep the assistant's choice.
  const rerankers = $api.useQuery(
    "get",
    "/api/v1/rerankers",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results, enabled: isAdmin },
  );
  const [temperature, setTemperature] = useState<string | null>(null);

  const save = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      const body: AssistantInput = {
        name: String(form.get("name") ?? ""),
        description: String(form.get("description") ?? ""),
        model: String(form.get("model") ?? ""),
        system_instructions: String(form.get("system_instructions") ?? ""),
        temperature: String(form.get("temperature") ?? "0.7"),
        retrieval_mode: form.get("retrieval_mode") as AssistantInput["retrieval_mode"],
        retrieval_top_k: Number(form.get("retrieval_top_k") || 8),
        is_active: form.get("is_active") === "on",
        collections: form.getAll("collections").map(String),
        suggested_questions: String(form.get("suggested_questions") ?? "")
          .split("\n")
          .map((line) => line.trim())
          .filter(Boolean),
      };
      if (form.has("reranker")) {
        const reranker = String(form.get("reranker") ?? "");
        if (reranker || !isNew) body.reranker = reranker || null;
      }
      if (form.has("rerank_candidates")) body.rerank_candidates = Number(form.get("rerank_candidates") || 30);
      const fallback = String(form.get("fallback_model") ?? "");
      if (fallback) body.fallback_model = fallback;
      else if (!isNew) (body as Record<string, unknown>).fallback_model = null;
      const saved = isNew
        ? await unwrap(client.POST("/api/v1/assistants", { body }))
        : await unwrap(client.PATCH("/api/v1/assistants/{assistant_id}", { params: { path: { assistant_id: assistantId } }, body }));
      queryClient.setQueryData(assistantQuery(saved.id).queryKey, saved);
      if (isNew) navigate(`/assistants/${saved.id}`, { replace: true });
      return saved;
    },
    { invalidates: ["/api/v1/assistants"] },
  );
  const [saved, setSaved] = useState(false);
  const remove = useAction(
    async () => {
      if (!assistantId || !window.confirm("Delete this assistant? Its conversations are deleted too.")) return;
      await unwrap(client.DELETE("/api/v1/assistants/{assistant_id}", { params: { path: { assistant_id: assistantId } } }));
      navigate("/assistants");
    },
    { invalidates: ["/api/v1/assistants"] },
  );

  if (assistant.error) {
    return (
      <>
        <PageHeader title="Assistant" />
        <ErrorMessage error={assistant.error} />
      </>
    );
  }
  if (isNew && !canEdit) {
    return (
      <div className="stack-lg">
        <PageHeader title="New assistant" description={<Link to="/assistants">Assistants</Link>} />
        <div className="alert alert-info" role="status">
          You are a viewer: you can use the organization's assistants but not create them.
        </div>
      </div>
    );
  }
  if ((!isNew && !assistant.data) || !models.data) {
    return models.error ? <ErrorMessage error={models.error} /> : <Loading />;
  }
  const data = assistant.data;
  const chatModels = models.data;
  const currentTemperature = temperature ?? data?.temperature ?? "0.70";
  return (
    <div className="stack-lg">
      <PageHeader
        title={isNew ? "New assistant" : data!.name}
        description={
          <>
            <Link to="/assistants">Assistants</Link>
            {data ? ` · ${data.answer_mode === "extractive" ? "offline extractive answers" : "language model"}` : ""}
          </>
        }
        actions={
          !isNew ? (
            <>
              <Link className="btn" to="/chat">
                Chat
              </Link>
              {canEdit ? (
                <button type="button" className="btn btn-danger" onClick={() => void remove.run()} disabled={remove.busy}>
                  Delete assistant
                </button>
              ) : null}
            </>
          ) : null
        }
      />
      <ErrorMessage error={remove.error} />
      {!canEdit ? (
        <div className="alert alert-info" role="status">
          You are a viewer: you can see this assistant's settings but not change them.
        </div>
      ) : null}
      <form
        className="card"
        onSubmit={async (event) => {
          setSaved(false);
          const result = await save.run(event);
          if (result) {
            setSaved(true);
            toast(`“${result.name}” saved.`);
          }
        }}
        noValidate
        aria-label="Assistant settings"
      >
        <fieldset disabled={!canEdit} className="card-body stack-lg">
          <div className="grid-2">
            <TextField label="Name" name="name" defaultValue={data?.name ?? ""} required error={save.error} />
            <TextField label="Description" name="description" defaultValue={data?.description ?? ""} error={save.error} />
          </div>
          <div className="grid-2">
            <SelectField
              label="Model"
              name="model"
              defaultValue={data?.model.id ?? chatModels[0]?.id}
              error={save.error}
              hint="Prices per million tokens, from the model catalog."
            >
              {chatModels.map((model) => (
                <option key={model.id} value={model.id}>
                  {modelLabel(model)}
                </option>
              ))}
            </SelectField>
            <SelectField
              label="Fallback model"
              name="fallback_model"
              defaultValue={data?.fallback_model?.id ?? ""}
              error={save.error}
              hint="Used when the main model's provider fails."
            >
              <option value="">None</option>
              {chatModels.map((model) => (
                <option key={model.id} value={model.id}>
                  {modelLabel(model)}
                </option>
              ))}
            </SelectField>
          </div>
          <TextAreaField
            label="System instructions"
            name="system_instructions"
            defaultValue={data?.system_instructions ?? ""}
            rows={6}
            error={save.error}
            hint="How the assistant behaves: tone, scope, what to refuse."
          />
          <TextAreaField
            label="Suggested questions"
            name="suggested_questions"
            defaultValue={(data?.suggested_questions ?? []).join("\n")}
            rows={3}
            error={save.error}
            hint="One per line, up to 6: offered as one-click questions in an empty chat."
          />
          <div className="grid-3">
            <Field
              label={`Temperature: ${Number(currentTemperature).toFixed(2)}`}
              name="temperature"
              error={save.error}
              hint="Lower is more focused, higher more varied."
            >
              {(a11y) => (
                <input
                  type="range"
                  name="temperature"
                  min={0}
                  max={2}
                  step={0.05}
                  value={currentTemperature}
                  onChange={(event) => setTemperature(event.target.value)}
                  {...a11y}
                />
              )}
            </Field>
            <SelectField label="Retrieval mode" name="retrieval_mode" defaultValue={data?.retrieval_mode ?? "hybrid"} error={save.error}>
              <option value="hybrid">Hybrid (vector + keyword)</option>
              <option value="vector">Vector</option>
              <option value="keyword">Keyword</option>
            </SelectField>
            <TextField
              label="Top k"
              name="retrieval_top_k"
              type="number"
              min={1}
              max={50}
              defaultValue={data?.retrieval_top_k ?? 8}
              error={save.error}
              hint="Passages retrieved per question."
            />
          </div>
          <RerankFields data={data} rerankers={isAdmin ? rerankers : null} error={save.error} />
          <fieldset>
            <legend>Linked collections</legend>
            <ErrorMessage error={collections.error} />
            <div className="checks">
              {(collections.data ?? []).map((collection) => (
                <label key={collection.id} className="check">
                  <input
                    type="checkbox"
                    name="collections"
                    value={collection.id}
                    defaultChecked={data?.collections.includes(collection.id)}
                  />
                  {collection.name}
                </label>
              ))}
            </div>
            <FieldErrors error={save.error} name="collections" />
            {collections.data && !collections.data.length ? (
              <p className="muted small">
                No collections yet: <Link to="/knowledge">create one</Link>.
              </p>
            ) : null}
          </fieldset>
          <label className="check">
            <input type="checkbox" name="is_active" defaultChecked={data?.is_active ?? true} />
            Active (available in chat)
          </label>
          {canEdit ? (
            <div className="stack">
              <ErrorMessage error={save.error} />
              {saved && !save.error ? (
                <div className="alert alert-success" role="status">
                  Saved.
                </div>
              ) : null}
              <div>
                <button type="submit" className="btn btn-primary" disabled={save.busy}>
                  {save.busy ? "Saving…" : isNew ? "Create assistant" : "Save changes"}
                </button>
              </div>
            </div>
          ) : null}
        </fieldset>
      </form>
      {data && canEdit ? <TestReply assistant={data} /> : null}
    </div>
  );
}
