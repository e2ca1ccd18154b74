// A collection's retrieval evaluation (docs/knowledge.md, ADR 0099): test questions with
// the documents that answer them, runs of every search mode, their figures as a table and
// a chart (each setting without and, when the run compares with one, with a reranker), and
// the best setting applied to an assistant.
import { type FormEvent, memo, useRef, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Link, useParams } from "react-router-dom";
import { baseHeaders, client, errorFromBody, unwrap } from "../api/client";
import { $api, useAction, useInvalidate } from "../api/query";
import type { EvaluationQuestion, EvaluationResult, EvaluationRun } from "../api/types";
import { usePermissions } from "../session";
import { useToast } from "../ui/toast";
import { Badge, Empty, ErrorMessage, FieldErrors, formatDate, Loading, PageHeader, Pager, SelectField, TextField } from "../ui";

const QUESTIONS = "/api/v1/collections/{collection_id}/evaluation/questions";
const RUNS = "/api/v1/collections/{collection_id}/evaluation/runs";
const MODES = ["vector", "keyword", "hybrid"] as const;
const STATUS_TONE = { pending: "info", running: "warning", completed: "success", failed: "danger" } as const;
// Assistants read at most 50 chunks (assistants/models.py).
const ASSISTANT_MAX_TOP_K = 50;

const figure = (value: number) => value.toFixed(3);
const unfinished = (run?: EvaluationRun) => run?.status === "pending" || run?.status === "running";

// A reranked row whose reranker failed for some questions scored their un-reranked order:
// not a setting to recommend.
const trusted = (result: EvaluationResult) => !result.reranked || !result.rerank_failures;
const settingName = (result: EvaluationResult) => `${result.mode} @${result.top_k}${result.reranked ? " + rerank" : ""}`;

function best(results: EvaluationResult[]): EvaluationResult | undefined {
  return [...results].filter(trusted).sort((a, b) => b.ndcg_at_10 - a.ndcg_at_10 || b.mrr - a.mrr)[0];
}

function uploadQuestions(collectionId: string, file: File): Promise<{ created: number }> {
  const data = new FormData();
  data.append("file", file);
  return fetch(`/api/v1/collections/${collectionId}/evaluation/questions/upload`, {
    method: "POST",
    credentials: "same-origin",
    headers: baseHeaders("POST"),
    body: data,
  }).then(async (response) => {
    const body: unknown = await response.json().catch(() => null);
    if (!response.ok) throw errorFromBody(response.status, body);
    return body as { created: number };
  });
}

function AddQuestion({ collectionId }: { collectionId: string }) {
  const documents = $api.useQuery("get", "/api/v1/collections/{collection_id}/documents", {
    params: { path: { collection_id: collectionId }, query: { page_size: 100, status: "completed" } },
  });
  const form = useRef<HTMLFormElement>(null);
  const add = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const data = new FormData(event.currentTarget);
      const chosen = data.getAll("documents").map(String);
      const question = await unwrap(
        client.POST(QUESTIONS, {
          params: { path: { collection_id: collectionId } },
          body: { text: String(data.get("text") ?? ""), documents: chosen.map((document) => ({ document, grade: 1 })) },
        }),
      );
      form.current?.reset();
      return question;
    },
    { invalidates: [QUESTIONS] },
  );
  return (
    <form ref={form} className="stack" onSubmit={add.run} noValidate data-testid="add-question">
      <TextField label="Question" name="text" required placeholder="How do I reset my password?" error={add.error} />
      <SelectField
        label="Documents that answer it"
        name="documents"
        multiple
        size={Math.min(6, Math.max(2, documents.data?.results.length ?? 2))}
        hint="Hold Ctrl (⌘ on a Mac) to choose several."
        error={add.error}
      >
        {documents.data?.results.map((document) => (
          <option key={document.id} value={document.id}>
            {document.title}
          </option>
        ))}
      </SelectField>
      <ErrorMessage error={add.error} />
      <div className="row" style={{ justifyContent: "flex-end" }}>
        <button type="submit" className="btn btn-primary" disabled={add.busy}>
          Add question
        </button>
      </div>
    </form>
  );
}

function UploadQuestions({ collectionId }: { collectionId: string }) {
  const invalidate = useInvalidate();
  const toast = useToast();
  const input = useRef<HTMLInputElement>(null);
  const upload = useAction(async (file: File) => {
    const result = await uploadQuestions(collectionId, file);
    toast(`${result.created} questions added from “${file.name}”.`, "success");
    await invalidate(QUESTIONS);
    return result;
  });
  return (
    <div className="stack">
      <p className="muted small">
        CSV with the columns <span className="mono">question,document,grade</span> (a row per document; the grade is optional), or JSONL
        lines <span className="mono">{'{"question": …, "documents": [id or title, …]}'}</span>. At most 2 MB.
      </p>
      <div>
        <input
          ref={input}
          type="file"
          accept=".csv,.jsonl,.json,.ndjson,.txt"
          className="sr-only"
          data-testid="questions-file"
          onChange={(event) => {
            const file = event.target.files?.[0];
            event.target.value = "";
            if (file) void upload.run(file);
          }}
        />
        <button type="button" className="btn" disabled={upload.busy} onClick={() => input.current?.click()}>
          Upload CSV or JSONL
        </button>
      </div>
      <ErrorMessage error={upload.error} testId="upload-error" />
      <FieldErrors error={upload.error} name="file" />
    </div>
  );
}

function DraftQuestions({ collectionId }: { collectionId: string }) {
  const toast = useToast();
  const models = $api.useQuery(
    "get",
    "/api/v1/models",
    { params: { query: { capability: "chat", page_size: 100 } } },
    { select: (data) => data.results.filter((model) => model.answer_mode !== "extractive"), staleTime: 5 * 60_000 },
  );
  const draft = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const data = new FormData(event.currentTarget);
      const result = await unwrap(
        client.POST(`${QUESTIONS}/draft`, {
          params: { path: { collection_id: collectionId } },
          body: { model: String(data.get("model") ?? ""), count: Number(data.get("count") ?? 5) },
        }),
      );
      toast(`${result.results.length} questions drafted: review them below.`, "success");
      return result;
    },
    { invalidates: [QUESTIONS] },
  );
  if (!models.data?.length) return null;
  return (
    <form
      className="row"
      onSubmit={draft.run}
      noValidate
      data-testid="draft-questions"
      style={{ alignItems: "flex-end", gap: 12, flexWrap: "wrap" }}
    >
      <SelectField label="Draft questions with" name="model" error={draft.error}>
        {models.data.map((model) => (
          <option key={model.id} value={`${model.provider}/${model.model_id}`}>
            {model.display_name}
          </option>
        ))}
      </SelectField>
      <TextField label="How many" name="count" type="number" min={1} max={10} defaultValue={5} error={draft.error} style={{ width: 90 }} />
      <button type="submit" className="btn" disabled={draft.busy}>
        {draft.busy ? "Drafting…" : "Draft from the documents"}
      </button>
      <ErrorMessage error={draft.error} />
    </form>
  );
}

function QuestionRow({ collectionId, question, canEdit }: { collectionId: string; question: EvaluationQuestion; canEdit: boolean }) {
  const remove = useAction(
    () =>
      unwrap(client.DELETE(`${QUESTIONS}/{question_id}`, { params: { path: { collection_id: collectionId, question_id: question.id } } })),
    { invalidates: [QUESTIONS] },
  );
  const approve = useAction(
    () =>
      unwrap(
        client.PATCH(`${QUESTIONS}/{question_id}`, {
          params: { path: { collection_id: collectionId, question_id: question.id } },
          body: { approved: true },
        }),
      ),
    { invalidates: [QUESTIONS] },
  );
  return (
    <tr data-testid="question-row">
      <td>
        {question.text}
        <ErrorMessage error={remove.error ?? approve.error} />
      </td>
      <td className="small">{question.documents.map((document) => document.document_title).join(", ")}</td>
      <td className="hide-sm muted small">
        {question.source}
        {question.approved ? null : (
          <>
            {" "}
            <Badge tone="warning">to review</Badge>
          </>
        )}
      </td>
      <td className="num">
        {canEdit && !question.approved ? (
          <button type="button" className="btn btn-sm" disabled={approve.busy} onClick={() => void approve.run()}>
            Approve
          </button>
        ) : null}{" "}
        {canEdit ? (
          <button type="button" className="btn btn-sm btn-danger" disabled={remove.busy} onClick={() => void remove.run()}>
            Delete
          </button>
        ) : null}
      </td>
    </tr>
  );
}

const ResultsChart = memo(function ResultsChart({ results }: { results: EvaluationResult[] }) {
  const rows = results.map((result) => ({
    name: settingName(result),
    "nDCG@10": result.ndcg_at_10,
    "Recall@10": result.recall_at_10,
    MRR: result.mrr,
  }));
  return (
    <div style={{ width: "100%", height: 260 }} data-testid="results-chart">
      <ResponsiveContainer>
        <BarChart data={rows} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e2e5ee" vertical={false} />
          <XAxis dataKey="name" tick={{ fontSize: 12, fill: "#6b7284" }} tickLine={false} axisLine={{ stroke: "#e2e5ee" }} />
          <YAxis domain={[0, 1]} tick={{ fontSize: 12, fill: "#6b7284" }} tickLine={false} axisLine={false} width={40} />
          <Tooltip formatter={(value: number) => figure(value)} cursor={{ fill: "#eef0ff" }} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          <Bar dataKey="nDCG@10" fill="#4f5bd5" isAnimationActive={false} />
          <Bar dataKey="Recall@10" fill="#22a06b" isAnimationActive={false} />
          <Bar dataKey="MRR" fill="#e2a03f" isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
});

function UseSettings({ result, run }: { result: EvaluationResult; run: EvaluationRun }) {
  const assistants = $api.useQuery("get", "/api/v1/assistants", { params: { query: { page_size: 100 } } });
  const toast = useToast();
  const topK = Math.min(result.top_k, ASSISTANT_MAX_TOP_K);
  // The run compared with a reranker: the best row says whether the assistant should use it
  // (and it may since have been deleted: then the assistant's reranker is left as it is).
  const reranking = run.reranker
    ? result.reranked
      ? { reranker: run.reranker, rerank_candidates: run.rerank_candidates ?? undefined }
      : { reranker: null }
    : {};
  const rerankerName = (run.config as { reranker?: { name?: string } | null }).reranker?.name;
  const apply = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const id = String(new FormData(event.currentTarget).get("assistant") ?? "");
      const updated = await unwrap(
        client.PATCH("/api/v1/assistants/{assistant_id}", {
          params: { path: { assistant_id: id } },
          body: { retrieval_mode: result.mode as (typeof MODES)[number], retrieval_top_k: topK, ...reranking },
        }),
      );
      const reranked = result.reranked ? `, reranked by “${rerankerName ?? "the reranker"}”` : "";
      toast(`“${updated.name}” now searches in ${result.mode} mode with ${topK} results${reranked}.`, "success");
      return updated;
    },
    { invalidates: ["/api/v1/assistants"] },
  );
  if (!assistants.data?.results.length) return null;
  return (
    <form className="row" onSubmit={apply.run} data-testid="use-settings" style={{ alignItems: "flex-end", gap: 12 }}>
      <SelectField label="Assistant" name="assistant" error={apply.error}>
        {assistants.data.results.map((assistant) => (
          <option key={assistant.id} value={assistant.id}>
            {assistant.name}
          </option>
        ))}
      </SelectField>
      <button type="submit" className="btn" disabled={apply.busy}>
        Use these settings ({result.mode}, top {topK}
        {result.reranked ? ", reranked" : ""})
      </button>
      <ErrorMessage error={apply.error} />
    </form>
  );
}

function RunResults({ run, canEdit }: { run: EvaluationRun; canEdit: boolean }) {
  const top = best(run.results);
  return (
    <div className="stack">
      <div className="table-wrap">
        <table className="table table-compact" data-testid="results-table">
          <caption className="sr-only">nDCG@10, recall@10 and MRR of each mode and top_k, without and with the reranker</caption>
          <thead>
            <tr>
              <th>Mode, top_k</th>
              <th className="num">nDCG</th>
              <th className="num">Recall</th>
              <th className="num">MRR</th>
            </tr>
          </thead>
          <tbody>
            {run.results.map((result) => (
              <tr
                key={`${result.mode}-${result.top_k}-${String(result.reranked)}`}
                data-testid={`result-${result.mode}-${result.top_k}${result.reranked ? "-reranked" : ""}`}
              >
                <td>
                  {result.mode} <span className="muted small">top {result.top_k}</span>{" "}
                  {result.reranked ? <Badge tone="accent">reranked</Badge> : null}{" "}
                  {result.reranked && result.rerank_failures ? (
                    <Badge tone="danger">
                      reranker failed for {result.rerank_failures} of {result.questions}
                    </Badge>
                  ) : null}{" "}
                  {result === top ? <Badge tone="success">best</Badge> : null}
                </td>
                <td className="num mono">{figure(result.ndcg_at_10)}</td>
                <td className="num mono">{figure(result.recall_at_10)}</td>
                <td className="num mono">{figure(result.mrr)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ResultsChart results={run.results} />
      {canEdit && top ? <UseSettings result={top} run={run} /> : null}
    </div>
  );
}

function StartRun({ collectionId, disabled }: { collectionId: string; disabled: boolean }) {
  // Only admins may list rerankers (they hold keys): the choice is theirs.
  const { isAdmin } = usePermissions();
  const rerankers = $api.useQuery(
    "get",
    "/api/v1/rerankers",
    { params: { query: { page_size: 100 } } },
    { select: (data) => data.results, enabled: isAdmin },
  );
  const start = useAction(
    async (event: FormEvent<HTMLFormElement>) => {
      event.preventDefault();
      const data = new FormData(event.currentTarget);
      const modes = data.getAll("modes").map(String) as (typeof MODES)[number][];
      const topKs = String(data.get("top_ks") ?? "")
        .split(/[\s,]+/)
        .filter(Boolean)
        .map(Number);
      const reranker = String(data.get("reranker") ?? "");
      return unwrap(
        client.POST(RUNS, {
          params: { path: { collection_id: collectionId } },
          body: {
            modes: modes.length ? modes : undefined,
            top_ks: topKs.length ? topKs : undefined,
            reranker: reranker || undefined,
          },
        }),
      );
    },
    { invalidates: [RUNS] },
  );
  return (
    <form
      className="stack"
      onSubmit={start.run}
      noValidate
      data-testid="start-run"
      style={{ borderTop: "1px solid var(--border)", paddingTop: 16 }}
    >
      <h3>New run</h3>
      <fieldset className="row" style={{ gap: 16, border: 0, padding: 0, margin: 0 }}>
        <legend className="small muted">Search modes</legend>
        {MODES.map((mode) => (
          <label key={mode} className="check">
            <input type="checkbox" name="modes" value={mode} defaultChecked /> {mode}
          </label>
        ))}
      </fieldset>
      <TextField
        label="top_k (results per question)"
        name="top_ks"
        defaultValue="10"
        hint="One or more, e.g. “5, 10, 20”."
        error={start.error}
      />
      {rerankers.data?.length ? (
        <SelectField
          label="Compare with reranker"
          name="reranker"
          defaultValue=""
          hint="Each setting is then also run with the reranker, side by side."
          error={start.error}
        >
          <option value="">No reranker</option>
          {rerankers.data.map((reranker) => (
            <option key={reranker.id} value={reranker.id}>
              {reranker.name}
            </option>
          ))}
        </SelectField>
      ) : null}
      <ErrorMessage error={start.error} />
      <div>
        <button type="submit" className="btn btn-primary" disabled={disabled || start.busy}>
          Run evaluation
        </button>
      </div>
    </form>
  );
}

function RunProgress({ run }: { run: EvaluationRun }) {
  const fraction = run.steps_total ? (run.steps_done ?? 0) / run.steps_total : 0;
  return (
    <div className="stack" role="status" data-testid="run-progress">
      <span className="small">
        <span className="spin" aria-hidden="true" style={{ width: 10, height: 10 }} /> Evaluating {run.questions_total} questions…{" "}
        {run.steps_done ?? 0} of {run.steps_total} searches
      </span>
      <div
        className="progress"
        role="progressbar"
        aria-label="Evaluation progress"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(fraction * 100)}
      >
        <span style={{ width: `${Math.round(fraction * 100)}%` }} />
      </div>
    </div>
  );
}

function configText(config: EvaluationRun["config"]): string {
  const value = config as Record<string, unknown>;
  const reranker = value.reranker as { name?: string; candidates?: number } | null | undefined;
  const compared = reranker
    ? `compared with reranker “${String(reranker.name)}” (${String(reranker.candidates)} candidates)`
    : "no reranker";
  // Runs from before parent-child chunking (ADR 0103) have no "chunking": they were flat.
  const sections = value.chunking === "parent_child" ? ` in sections of ${String(value.parent_size)}` : "";
  return `chunks of ${String(value.chunk_size)} (overlap ${String(value.chunk_overlap)})${sections}, ${String(value.chunks)} chunks, ${compared}`;
}

export default function EvaluationPage() {
  const { collectionId = "" } = useParams();
  const { canEdit } = usePermissions();
  const [page, setPage] = useState(1);
  const path = { collection_id: collectionId };
  const collection = $api.useQuery("get", "/api/v1/collections/{collection_id}", { params: { path } });
  const questions = $api.useQuery("get", QUESTIONS, { params: { path, query: { page, page_size: 50 } } });
  // Polled while the newest run is unfinished: its progress, then its figures.
  const runs = $api.useQuery(
    "get",
    RUNS,
    { params: { path, query: { page_size: 20 } } },
    { refetchInterval: (query) => (unfinished(query.state.data?.results[0]) ? 1000 : false) },
  );
  const latest = runs.data?.results[0];
  const shown = runs.data?.results.find((run) => run.status === "completed");

  if (collection.error) return <ErrorMessage error={collection.error} />;
  if (!collection.data) return <Loading />;
  return (
    <div className="stack-lg">
      <PageHeader
        title={`Evaluation: ${collection.data.name}`}
        description={
          <>
            <Link to={`/knowledge/${collectionId}`}>{collection.data.name}</Link> · test questions with the documents that should answer
            them; each run reports nDCG@10, recall@10 and MRR per search mode.
          </>
        }
      />
      <div className="card">
        <div className="card-header">
          <h2>Results</h2>
        </div>
        <div className="card-body stack">
          <ErrorMessage error={runs.error} />
          {latest && unfinished(latest) ? <RunProgress run={latest} /> : null}
          {latest?.status === "failed" ? (
            <p className="error" role="alert">
              The last run failed: {latest.error}
            </p>
          ) : null}
          {shown ? (
            <>
              <p className="muted small">
                Run of {formatDate(shown.finished_at)}: {shown.questions_total} questions, {configText(shown.config)}.
              </p>
              <RunResults run={shown} canEdit={canEdit} />
            </>
          ) : runs.data && !unfinished(latest) ? (
            <Empty title="No results yet">Add questions, then run an evaluation.</Empty>
          ) : null}
          {canEdit ? <StartRun collectionId={collectionId} disabled={unfinished(latest) || !questions.data?.count} /> : null}
        </div>
      </div>
      <div className="card">
        <div className="card-header">
          <h2>Test questions</h2>
          <span className="muted small">{questions.data?.count ?? 0}</span>
        </div>
        <div className="card-body stack">
          {canEdit ? (
            <div className="grid-2">
              <AddQuestion collectionId={collectionId} />
              <UploadQuestions collectionId={collectionId} />
            </div>
          ) : null}
          {canEdit ? <DraftQuestions collectionId={collectionId} /> : null}
          <ErrorMessage error={questions.error} />
          {questions.data ? (
            questions.data.results.length ? (
              <div className="table-wrap">
                <table className="table table-stack" data-testid="questions-table">
                  <thead>
                    <tr>
                      <th>Question</th>
                      <th>Answered by</th>
                      <th className="hide-sm">Source</th>
                      <th className="num">
                        <span className="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {questions.data.results.map((question) => (
                      <QuestionRow key={question.id} collectionId={collectionId} question={question} canEdit={canEdit} />
                    ))}
                  </tbody>
                </table>
              </div>
            ) : (
              <Empty title="No test questions yet">{canEdit ? "Add one above or upload a file." : "A member or admin can add them."}</Empty>
            )
          ) : (
            <Loading />
          )}
          <Pager page={page} count={questions.data?.count ?? 0} pageSize={50} onPage={setPage} />
        </div>
      </div>
      {runs.data && runs.data.results.length > 1 ? (
        <div className="card">
          <div className="card-header">
            <h2>Earlier runs</h2>
          </div>
          <div className="table-wrap">
            <table className="table table-stack" data-testid="runs-table">
              <thead>
                <tr>
                  <th>Started</th>
                  <th>Status</th>
                  <th className="num">Best nDCG@10</th>
                  <th className="hide-sm">Configuration</th>
                </tr>
              </thead>
              <tbody>
                {runs.data.results.map((run) => (
                  <tr key={run.id}>
                    <td className="small">{formatDate(run.created_at)}</td>
                    <td>
                      <Badge tone={STATUS_TONE[run.status ?? "pending"]}>{run.status}</Badge>
                    </td>
                    <td className="num mono">
                      {best(run.results) ? `${figure(best(run.results)!.ndcg_at_10)} (${settingName(best(run.results)!)})` : "—"}
                    </td>
                    <td className="hide-sm small muted">{configText(run.config)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : null}
    </div>
  );
}
