// Admins' review of thumbs-down answers: the question, the answer, its sources and the
// comment, filtered by assistant and by the day the answer was rated.
import { type FormEvent, useState } from "react";
import { Link } from "react-router-dom";
import { $api } from "../api/query";
import { usePermissions } from "../session";
import { Badge, Empty, ErrorMessage, formatDate, Loading, PageHeader, Pager, SelectField, TextField } from "../ui";
import { Markdown } from "../ui/markdown";

const PAGE_SIZE = 20;
type Filters = { assistant: string; start: string; end: string };

export function FeedbackPage() {
  // Admins only: others (who came by address) get the API's 403 and no filters.
  const { isAdmin } = usePermissions();
  const [filters, setFilters] = useState<Filters>({ assistant: "", start: "", end: "" });
  const [page, setPage] = useState(1);
  const assistants = $api.useQuery("get", "/api/v1/assistants", { params: { query: { page_size: 100 } } }, { enabled: isAdmin });
  const feedback = $api.useQuery("get", "/api/v1/feedback", {
    params: {
      query: {
        page,
        page_size: PAGE_SIZE,
        assistant: filters.assistant || undefined,
        start: filters.start || undefined,
        end: filters.end || undefined,
      },
    },
  });
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPage(1);
    setFilters({
      assistant: String(form.get("assistant") ?? ""),
      start: String(form.get("start") ?? ""),
      end: String(form.get("end") ?? ""),
    });
  };
  const filtered = Boolean(filters.assistant || filters.start || filters.end);
  return (
    <div className="stack-lg">
      <PageHeader
        title="Answer feedback"
        description="Answers people marked as unhelpful, with what they asked and why: fix the documents or the assistant's instructions."
      />
      {isAdmin ? (
        <form className="card card-body filters" onSubmit={apply} aria-label="Filter feedback">
          <SelectField label="Assistant" name="assistant" defaultValue="">
            <option value="">All assistants</option>
            {assistants.data?.results.map((assistant) => (
              <option key={assistant.id} value={assistant.id}>
                {assistant.name}
              </option>
            ))}
          </SelectField>
          <TextField label="From" name="start" type="date" error={feedback.error} />
          <TextField label="To" name="end" type="date" error={feedback.error} />
          <div className="field">
            <button type="submit" className="btn">
              Filter
            </button>
          </div>
        </form>
      ) : null}
      <ErrorMessage error={feedback.error} />
      {feedback.isLoading ? <Loading /> : null}
      {feedback.data ? (
        feedback.data.results.length ? (
          <div className="stack" aria-live="polite">
            {feedback.data.results.map((item) => (
              <article key={item.id} className="card" data-testid="feedback-row" aria-label={`Feedback on ${item.assistant_name}`}>
                <div className="card-header">
                  <div className="row" style={{ flexWrap: "wrap" }}>
                    <Badge tone="danger">thumbs down</Badge>
                    <strong>{item.assistant_name}</strong>
                    <span className="muted small">
                      {formatDate(item.feedback_at)}
                      {item.asked_by ? ` · ${item.asked_by}` : " · a visitor or program"}
                    </span>
                  </div>
                  <Link className="btn btn-sm" to={`/chat/${item.session_id}`}>
                    Open conversation
                  </Link>
                </div>
                <div className="card-body feedback-item">
                  <div>
                    <div className="small muted">Question</div>
                    <blockquote data-testid="feedback-question">{item.question || "—"}</blockquote>
                  </div>
                  <div>
                    <div className="small muted">Answer{item.model ? ` (${item.model})` : ""}</div>
                    <blockquote className="feedback-answer" data-testid="feedback-answer">
                      <Markdown text={item.answer} />
                    </blockquote>
                  </div>
                  <div>
                    <div className="small muted">Sources</div>
                    {item.sources.length ? (
                      <ol className="small" data-testid="feedback-sources" style={{ margin: "4px 0 0", paddingLeft: 20 }}>
                        {item.sources.map((source) => (
                          <li key={`${source.index}-${source.chunk_id}`}>
                            {source.document_title}
                            {source.page ? `, page ${source.page}` : ""}
                            {source.section ? ` · ${source.section}` : ""}
                            {source.cited ? <span className="muted"> (cited)</span> : null}
                          </li>
                        ))}
                      </ol>
                    ) : (
                      <p className="small muted" data-testid="feedback-sources">
                        No source was found for this question.
                      </p>
                    )}
                  </div>
                  <div>
                    <div className="small muted">Comment</div>
                    <blockquote className="feedback-comment" data-testid="feedback-comment">
                      {item.comment || <span className="muted">No comment.</span>}
                    </blockquote>
                  </div>
                </div>
              </article>
            ))}
            <Pager page={page} count={feedback.data.count} pageSize={PAGE_SIZE} onPage={setPage} />
          </div>
        ) : (
          <Empty title={filtered ? "No unhelpful answer matches" : "No unhelpful answers yet"}>
            {filtered
              ? "Try another assistant or a wider date range."
              : "When someone gives an answer a thumbs-down in the chat, it shows here with their comment."}
          </Empty>
        )
      ) : null}
    </div>
  );
}
