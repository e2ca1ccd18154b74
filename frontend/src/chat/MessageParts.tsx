// Pieces of an answer: its Markdown with citation chips, and the thumbs.
import { useState } from "react";
import { client, unwrap } from "../api/client";
import type { Source } from "../api/types";
import { Icon } from "../layout/icons";
import { ErrorMessage } from "../ui";
import { Markdown } from "../ui/markdown";
import { type ViewMessage } from "./useChatStream";

export function AnswerText({ text, sources, onCite }: { text: string; sources: Source[]; onCite: (source: Source) => void }) {
  const citations = sources.map((source) => ({
    index: source.index,
    label: `Source ${source.index}: ${source.document_title}${source.page ? `, page ${source.page}` : ""}`,
  }));
  return (
    <Markdown
      text={text}
      citations={citations}
      onCite={(index) => {
        const source = sources.find((item) => item.index === index);
        if (source) onCite(source);
      }}
    />
  );
}

export function Feedback({ message, onChanged }: { message: ViewMessage; onChanged: (rating: number | null) => void }) {
  const [error, setError] = useState<unknown>(null);
  const rating = (message.feedback as { rating?: number | null } | null | undefined)?.rating ?? null;
  const send = async (value: 1 | -1) => {
    const next = rating === value ? null : value;
    setError(null);
    try {
      await unwrap(
        client.POST("/api/v1/chat/messages/{message_id}/feedback", {
          params: { path: { message_id: message.id } },
          body: { rating: next },
        }),
      );
      onChanged(next);
    } catch (cause) {
      setError(cause);
    }
  };
  return (
    <>
      <button
        type="button"
        className={`btn btn-ghost btn-sm ${rating === 1 ? "active" : ""}`}
        aria-pressed={rating === 1}
        aria-label="Good answer"
        onClick={() => void send(1)}
      >
        <Icon name="up" />
      </button>
      <button
        type="button"
        className={`btn btn-ghost btn-sm ${rating === -1 ? "active" : ""}`}
        aria-pressed={rating === -1}
        aria-label="Bad answer"
        onClick={() => void send(-1)}
      >
        <Icon name="down" />
      </button>
      {error ? <ErrorMessage error={error} /> : null}
    </>
  );
}
