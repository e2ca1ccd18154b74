// One conversation in the chat sidebar: open it; its owner renames, shares (read-only,
// with the organization), archives or deletes it.
import { type FormEvent, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { client, unwrap } from "../api/client";
import { useForget, useInvalidate } from "../api/query";
import type { Session } from "../api/types";
import { Icon } from "../layout/icons";
import { ErrorMessage } from "../ui";

export function SessionItem({ session, active, mine }: { session: Session; active: boolean; mine: boolean }) {
  const invalidate = useInvalidate();
  const forget = useForget();
  const navigate = useNavigate();
  const [renaming, setRenaming] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const remove = async () => {
    if (!window.confirm(`Delete "${session.title || "New conversation"}" and all its messages? This cannot be undone.`)) return;
    setError(null);
    try {
      await unwrap(client.DELETE("/api/v1/chat/sessions/{session_id}", { params: { path: { session_id: session.id } } }));
      // Its reads are dropped, not refetched: the open conversation would ask for it (404).
      forget(`/api/v1/chat/sessions/${session.id}`);
      if (active) navigate("/chat");
      void invalidate("/api/v1/chat/sessions");
    } catch (cause) {
      setError(cause);
    }
  };
  const patch = async (body: { title?: string; is_archived?: boolean; is_shared?: boolean }) => {
    setError(null);
    try {
      await unwrap(client.PATCH("/api/v1/chat/sessions/{session_id}", { params: { path: { session_id: session.id } }, body }));
      setRenaming(false);
      void invalidate("/api/v1/chat/sessions");
    } catch (cause) {
      setError(cause);
    }
  };
  const title = session.title || "New conversation";
  return (
    <li data-testid="chat-session">
      <div className={`session-item ${active ? "active" : ""}`}>
        {renaming ? (
          <form
            className="row grow"
            style={{ padding: 6 }}
            onSubmit={(event: FormEvent<HTMLFormElement>) => {
              event.preventDefault();
              void patch({ title: String(new FormData(event.currentTarget).get("title") ?? "") });
            }}
          >
            <label className="sr-only" htmlFor={`rename-${session.id}`}>
              New title
            </label>
            <input
              id={`rename-${session.id}`}
              name="title"
              className="input grow"
              defaultValue={title}
              autoFocus
              onKeyDown={(event) => event.key === "Escape" && setRenaming(false)}
            />
            <button className="btn btn-sm btn-primary" type="submit">
              Save
            </button>
          </form>
        ) : (
          <>
            <Link className="session-link" to={`/chat/${session.id}`} aria-current={active ? "page" : undefined}>
              <span className="session-title">{title}</span>
              <span className="session-meta">
                {!mine ? (
                  <span className="badge" data-testid="session-owner">
                    {session.owner ? session.owner.name || session.owner.email : "A program"} · read-only
                  </span>
                ) : null}
                {!mine ? " " : ""}
                {session.channel === "slack" || session.channel === "teams"
                  ? `${session.channel === "slack" ? "Slack" : "Teams"} (read-only) · `
                  : ""}
                {mine && session.is_shared ? (
                  <span className="badge" data-testid="session-shared">
                    shared
                  </span>
                ) : null}
                {mine && session.is_shared ? " " : ""}
                {session.assistant_name} · {session.message_count ?? 0} messages
              </span>
            </Link>
            {mine ? (
              <div className="session-actions">
                <button
                  type="button"
                  className="btn btn-ghost btn-icon btn-sm"
                  aria-label={`Rename ${title}`}
                  title="Rename"
                  onClick={() => setRenaming(true)}
                >
                  <Icon name="edit" />
                </button>
                <button
                  type="button"
                  className="btn btn-ghost btn-icon btn-sm"
                  aria-label={`${session.is_archived ? "Unarchive" : "Archive"} ${title}`}
                  title={session.is_archived ? "Unarchive" : "Archive"}
                  onClick={() => void patch({ is_archived: !session.is_archived })}
                >
                  <Icon name={session.is_archived ? "unarchive" : "archive"} />
                </button>
                <button
                  type="button"
                  className={`btn btn-ghost btn-icon btn-sm ${session.is_shared ? "on" : ""}`}
                  aria-label={`${session.is_shared ? "Stop sharing" : "Share with the organization"} ${title}`}
                  aria-pressed={Boolean(session.is_shared)}
                  title={
                    session.is_shared ? "Shared with the organization (read-only): stop sharing" : "Share with the organization (read-only)"
                  }
                  onClick={() => void patch({ is_shared: !session.is_shared })}
                >
                  <Icon name="share" />
                </button>
                <button
                  type="button"
                  className="btn btn-ghost btn-icon btn-sm"
                  aria-label={`Delete ${title}`}
                  title="Delete"
                  onClick={() => void remove()}
                >
                  <Icon name="trash" />
                </button>
              </div>
            ) : null}
          </>
        )}
      </div>
      {error ? (
        <div style={{ padding: "0 6px 6px" }}>
          <ErrorMessage error={error} />
        </div>
      ) : null}
    </li>
  );
}
