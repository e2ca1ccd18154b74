// One conversation's messages and the answer streaming into them: the placeholder
// filled token by token, its temporary ids swapped for the server's, what was typed
// given back when the server refuses, and Stop. The page decides what to do when a new
// conversation starts (navigate) and once a stream ends (reload, invalidate).
import { type Dispatch, type SetStateAction, useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { type ChatStreamEvents, type StreamHandlers, streamTurn } from "../api/stream";
import type { Message } from "../api/types";

export interface ViewMessage extends Partial<Message> {
  id: string;
  role: Message["role"];
  content: string;
  streaming?: boolean;
  streamError?: string;
}

export function isExpired(error: unknown) {
  return error instanceof ApiError && (error.status === 401 || error.code === "not_authenticated");
}

export interface StreamRequest {
  /** The endpoint (/api/v1/chat, a message's regenerate or edit) and its body. */
  path: string;
  body: unknown;
  /** The answer being written, already in the list. */
  placeholder: ViewMessage;
  /** The question sent with it (a temporary id until the server names it). */
  question?: ViewMessage;
  /** The conversation it belongs to (none: the stream creates one). */
  sessionId?: string;
  /** Called when the server refuses: puts back what was typed. */
  restore?: () => void;
}

interface Options {
  /** The `session` event: the conversation (maybe new) and the messages' ids. */
  onSession?: (data: ChatStreamEvents["session"]) => void;
  /** After the stream ended (not when the session expired), with its conversation. */
  onSettled?: (sessionId: string) => Promise<void> | void;
}

export function useChatStream(options: Options = {}) {
  const [messages, setMessages] = useState<ViewMessage[]>([]);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);
  // The page's latest callbacks (they close over its current route and state).
  const latest = useRef(options);
  latest.current = options;
  useEffect(() => () => abort.current?.abort(), []);

  const run = useCallback(async ({ path, body, placeholder, question, sessionId, restore }: StreamRequest) => {
    const controller = new AbortController();
    abort.current = controller;
    let expired = false;
    setStreaming(true);
    setError(null);
    let answerId = placeholder.id;
    let session = sessionId;
    const update = (change: (message: ViewMessage) => ViewMessage) =>
      setMessages((list) => list.map((message) => (message.id === answerId ? change(message) : message)));
    const handlers: StreamHandlers = {
      session: (data) => {
        session = data.session_id;
        const oldAnswerId = answerId;
        answerId = data.message_id;
        setMessages((list) =>
          list.map((message) =>
            message.id === oldAnswerId
              ? { ...message, id: data.message_id, reply_to: data.user_message_id }
              : question && message.id === question.id
                ? { ...message, id: data.user_message_id }
                : message,
          ),
        );
        latest.current.onSession?.(data);
      },
      delta: (data) => update((message) => ({ ...message, content: message.content + data.text })),
      sources: (data) => update((message) => ({ ...message, sources: data.sources })),
      usage: (data) =>
        update((message) => ({ ...message, total_tokens: data.total_tokens, cost: data.cost, latency_ms: data.latency_ms ?? undefined })),
      error: (data) => update((message) => ({ ...message, streaming: false, streamError: data.message })),
      done: () => update((message) => ({ ...message, streaming: false })),
    };
    try {
      await streamTurn(path, body, handlers, controller.signal);
    } catch (cause) {
      expired = isExpired(cause);
      setError(cause);
      restore?.(); // refused: what was typed goes back into the composer
      setMessages((list) =>
        list.filter((message) => message.id !== answerId && (!question || message.id !== question.id || !question.id.startsWith("tmp-"))),
      );
    } finally {
      setStreaming(false);
      abort.current = null;
      if (session && !expired) await latest.current.onSettled?.(session);
    }
  }, []);

  const stop = useCallback(() => abort.current?.abort(), []);

  return { messages, setMessages: setMessages as Dispatch<SetStateAction<ViewMessage[]>>, streaming, error, setError, run, stop };
}
