// The cited passage beside the conversation, opened from a citation chip.
import { useEffect, useRef } from "react";
import { Link } from "react-router-dom";
import { useQuery } from "@tanstack/react-query";
import { ApiError, client, unwrap } from "../api/client";
import { $api } from "../api/query";
import type { Assistant, Chunk, Source } from "../api/types";
import { ErrorMessage, Relevance, Spinner } from "../ui";
import { CitedPassage } from "../ui/citedPassage";

export function SourcePanel({
  source,
  sources = [],
  assistant,
  answer,
  onClose,
}: {
  source: Source;
  sources?: Source[];
  assistant?: Assistant;
  answer?: string;
  onClose: () => void;
}) {
  // The exact passage the citation points at, by its chunk id.
  // A reprocessed document has new chunks: the old id is then gone (404).
  const init = { params: { path: { chunk_id: String(source.chunk_id) } } };
  const chunk = useQuery<Chunk | null>({
    queryKey: $api.queryOptions("get", "/api/v1/chunks/{chunk_id}", init).queryKey,
    queryFn: ({ signal }) =>
      unwrap(client.GET("/api/v1/chunks/{chunk_id}", { ...init, signal })).catch((error: unknown) => {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }),
    placeholderData: undefined,
  });
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => closeRef.current?.focus(), [source.chunk_id]);
  return (
    <aside className="source-panel" aria-label="Source" data-testid="source-panel">
      <div className="chat-head">
        <h2>Source [{source.index}]</h2>
        <button ref={closeRef} type="button" className="btn btn-ghost btn-sm" onClick={onClose}>
          Close
        </button>
      </div>
      <div className="source-panel-body">
        <div>
          <div className="label" data-testid="source-document">
            {source.document_title}
          </div>
          <div className="muted small">
            {source.page ? <span data-testid="source-page">Page {source.page}</span> : "No page number"}
            {source.section ? ` · ${source.section}` : ""}
          </div>
          <div className="small" style={{ marginTop: 4 }}>
            <Relevance
              rank={source.index}
              of={sources.length || undefined}
              score={source.score}
              best={Math.max(source.score, ...sources.map((item) => item.score))}
            />
            {source.cited ? (
              <span className="badge badge-accent" style={{ marginLeft: 6 }}>
                cited
              </span>
            ) : null}
          </div>
        </div>
        {chunk.isPending ? (
          <Spinner label="Loading the passage" />
        ) : chunk.error ? (
          <ErrorMessage error={chunk.error} />
        ) : chunk.data ? (
          <ChunkInSection chunk={chunk.data} answer={answer} index={source.index} />
        ) : (
          <p className="muted small">The passage's text could not be found again (the document may have been reprocessed).</p>
        )}
        <Link
          className="btn btn-sm"
          to={assistant?.collections?.length ? `/knowledge/${chunk.data?.collection_id ?? assistant.collections[0]}` : "/knowledge"}
        >
          Open in Knowledge
        </Link>
      </div>
    </aside>
  );
}

/** The cited chunk; in a parent-child collection inside the section the model read
 * (its parent), the retrieved chunk's span marked within it. */
function ChunkInSection({ chunk, answer, index }: { chunk: Chunk; answer?: string; index: number }) {
  const parent = chunk.parent;
  if (!parent || parent.child_start == null || parent.child_end == null) {
    return (
      <div className="chunk-text" data-testid="source-chunk">
        <CitedPassage text={parent ? parent.text : chunk.text} answer={answer} index={index} />
      </div>
    );
  }
  const before = parent.text.slice(0, parent.child_start);
  const after = parent.text.slice(parent.child_end);
  return (
    <div className="chunk-text" data-testid="source-chunk">
      {before ? <span className="muted">{before}</span> : null}
      <mark className="retrieved-span" data-testid="source-retrieved-span">
        <CitedPassage text={parent.text.slice(parent.child_start, parent.child_end)} answer={answer} index={index} />
      </mark>
      {after ? <span className="muted">{after}</span> : null}
    </div>
  );
}
