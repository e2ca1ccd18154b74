// Server-Sent Events over fetch: the chat endpoints are POSTs, which EventSource
// cannot send. Parses `event:`/`data:` frames as they arrive.
import { baseHeaders, errorFromResponse, ApiError } from "./client";

export interface StreamHandlers {
  session?: (data: { session_id: string; title: string; user_message_id: string; message_id: string; answer_mode: string }) => void;
  delta?: (data: { text: string }) => void;
  sources?: (data: { sources: import("./types").Source[] }) => void;
  usage?: (data: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cost: string; model: string; provider: string; time_to_first_token_ms: number | null; latency_ms: number | null }) => void;
  done?: (data: { message_id: string; status: string }) => void;
  error?: (data: { code: string; message: string }) => void;
}

export async function streamTurn(path: string, body: unknown, handlers: StreamHandlers, signal?: AbortSignal): Promise<void> {
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

  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const dispatch = (frame: string) => {
    let event = "message";
    const data: string[] = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) return;
    const handler = handlers[event as keyof StreamHandlers] as ((value: unknown) => void) | undefined;
    handler?.(JSON.parse(data.join("\n")));
  };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let boundary = buffer.indexOf("\n\n");
      while (boundary >= 0) {
        dispatch(buffer.slice(0, boundary));
        buffer = buffer.slice(boundary + 2);
        boundary = buffer.indexOf("\n\n");
      }
    }
    if (buffer.trim()) dispatch(buffer);
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") return;
    throw new ApiError(0, "stream", "The answer was interrupted. Try again.");
  }
}
