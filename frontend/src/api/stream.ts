// Server-Sent Events over fetch: the chat endpoints are POSTs, which EventSource cannot
// send. The frames are parsed by eventsource-parser (the WHATWG rules: multi-line data,
// comments, CRLF, frames split across chunks); the payload of each chat event is typed
// from the OpenAPI schema (components ChatStreamEvents, chat/api/stream_schema.py).
import { createParser } from "eventsource-parser";
import { baseHeaders, errorFromResponse, ApiError } from "./client";
import type { components } from "./schema";

/** Event name -> its data, as the server declares them. */
export type ChatStreamEvents = {
  [Name in keyof components["schemas"]["ChatStreamEvents"]]-?: components["schemas"]["ChatStreamEvents"][Name];
};

export type StreamHandlers = { [Name in keyof ChatStreamEvents]?: (data: ChatStreamEvents[Name]) => void };

/** Any event stream: each event's name and parsed JSON data, as they arrive. */
export async function streamEvents(
  path: string,
  body: unknown,
  onEvent: (name: string, data: unknown) => void,
  signal?: AbortSignal,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: baseHeaders("POST", { "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(body),
      signal,
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") return;
    throw new ApiError(0, "network", "The server could not be reached. Check your connection.");
  }
  if (!response.ok) throw await errorFromResponse(response);
  if (!response.body) throw new ApiError(0, "stream", "This browser cannot read streamed answers.");

  const parser = createParser({
    onEvent: (event) => onEvent(event.event ?? "message", JSON.parse(event.data)),
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") return;
    throw new ApiError(0, "stream", "The answer was interrupted. Try again.");
  }
}

/** A chat turn's stream (chat, regenerate, edit), each event to its typed handler. */
export function streamTurn(path: string, body: unknown, handlers: StreamHandlers, signal?: AbortSignal): Promise<void> {
  return streamEvents(
    path,
    body,
    (name, data) => {
      const handler = handlers[name as keyof StreamHandlers] as ((value: unknown) => void) | undefined;
      handler?.(data);
    },
    signal,
  );
}
