// The chat's list of conversations: search (debounced), archived, source and whose.
import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { $api } from "../api/query";
import { SourceFilter } from "../conversations/AnalysisPanel";
import { useMe } from "../session";
import { ErrorMessage } from "../ui";
import { SessionItem } from "./SessionItem";

export function SessionSidebar({ sessionId, onNewChat }: { sessionId?: string; onNewChat: () => void }) {
  const me = useMe();
  const [search, setSearch] = useState("");
  const [archived, setArchived] = useState(false);
  const [owner, setOwner] = useState<"me" | "everyone">("me");
  const [source, setSource] = useState("");
  const [query, setQuery] = useState("");
  useEffect(() => {
    const timer = window.setTimeout(() => setQuery(search), 250);
    return () => window.clearTimeout(timer);
  }, [search]);
  const sessions = $api.useQuery("get", "/api/v1/chat/sessions", {
    params: {
      query: { search: query || undefined, archived, owner, page_size: 100, source: (source || undefined) as "platform" | undefined },
    },
  });
  return (
    <aside className="chat-sidebar" aria-label="Conversations">
      <div className="chat-sidebar-head">
        <Link className="btn btn-primary btn-block" to="/chat" onClick={onNewChat}>
          New chat
        </Link>
        <label className="sr-only" htmlFor="session-search">
          Search conversations
        </label>
        <input
          id="session-search"
          className="input"
          type="search"
          placeholder="Search titles and messages"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
        <label className="check small">
          <input type="checkbox" checked={archived} onChange={(event) => setArchived(event.target.checked)} />
          Show archived
        </label>
        <SourceFilter value={source} onChange={setSource} />
        <label className="sr-only" htmlFor="session-owner">
          Whose conversations
        </label>
        <select id="session-owner" className="select" value={owner} onChange={(event) => setOwner(event.target.value as "me" | "everyone")}>
          <option value="me">My conversations</option>
          <option value="everyone">{me.role === "admin" ? "Everyone's (read-only)" : "Mine and shared with me"}</option>
        </select>
      </div>
      {sessions.error ? (
        <div style={{ padding: 12 }}>
          <ErrorMessage error={sessions.error} />
        </div>
      ) : null}
      <ul className="session-list" aria-label="Conversations" data-testid="chat-session-list">
        {(sessions.data?.results ?? []).map((session) => (
          <SessionItem key={session.id} session={session} mine={session.created_by === me.user.id} active={session.id === sessionId} />
        ))}
        {sessions.data && !sessions.data.results.length ? (
          <li className="muted small" style={{ padding: 12 }}>
            {query ? "No conversation matches." : archived ? "No archived conversations." : "No conversations yet."}
          </li>
        ) : null}
      </ul>
    </aside>
  );
}
