// Why a message was not sent, and the draft that survives it.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, messageOf } from "../api/client";
import { isExpired } from "./useChatStream";

/** Why the server refused, in words: the field errors when it named fields. */
export function refusalText(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = Object.values(error.fields ?? {}).flat();
    if (fields.length) return fields.join(" ");
    if (error.status === 429) return error.message || "Too many requests: wait a moment and send again.";
  }
  return messageOf(error);
}

/** The draft of each conversation survives reloads, refusals and logging in again. */
export function useDraft(key: string): [string, (value: string | ((previous: string) => string)) => void] {
  const storageKey = `chat-draft:${key}`;
  const [draft, setDraftState] = useState(() => sessionStorage.getItem(storageKey) ?? "");
  const keyRef = useRef(storageKey);
  useEffect(() => {
    keyRef.current = storageKey;
    setDraftState(sessionStorage.getItem(storageKey) ?? "");
  }, [storageKey]);
  const setDraft = useCallback((value: string | ((previous: string) => string)) => {
    setDraftState((previous) => {
      const next = typeof value === "function" ? value(previous) : value;
      if (next) sessionStorage.setItem(keyRef.current, next);
      else sessionStorage.removeItem(keyRef.current);
      return next;
    });
  }, []);
  return [draft, setDraft];
}

export function Refusal({ error }: { error: unknown }) {
  if (!error) return null;
  if (isExpired(error)) {
    const next = `${window.location.pathname}${window.location.search}`;
    return (
      <div className="alert alert-error" role="alert" data-testid="chat-error">
        Your session has expired. Your message is kept here.{" "}
        <a className="btn btn-sm" href={`/login?next=${encodeURIComponent(next)}`} data-testid="login-again">
          Log in again
        </a>
      </div>
    );
  }
  return (
    <div className="alert alert-error" role="alert" data-testid="chat-error">
      {refusalText(error)}
    </div>
  );
}
