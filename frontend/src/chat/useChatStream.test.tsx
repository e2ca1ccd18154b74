// @vitest-environment jsdom
// useChatStream fed a real SSE byte stream (a fetch Response whose body arrives in
// chunks cut mid-frame, CRLF line ends, a comment line), as the chat endpoint sends it.
import { act, cleanup, renderHook } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { useChatStream, type ViewMessage } from "./useChatStream";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function sseResponse(chunks: string[], status = 200) {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(body, { status, headers: { "Content-Type": "text/event-stream" } });
}

const frame = (event: string, data: unknown) => `event: ${event}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`;

const question: ViewMessage = { id: "tmp-q-1", role: "user", content: "Refunds?" };
const placeholder: ViewMessage = { id: "tmp-a-1", role: "assistant", content: "", streaming: true, reply_to: "tmp-q-1", sources: [] };
const source = {
  index: 1,
  chunk_id: 7,
  document_id: "d1",
  document_title: "Refund policy",
  page: 2,
  section: "",
  score: 0.9,
  cited: true,
  file_id: null,
};

describe("useChatStream", () => {
  it("fills the answer from the stream, swaps the temporary ids and settles once", async () => {
    const stream =
      ": keep-alive\r\n\r\n" +
      frame("session", { session_id: "s1", title: "Refunds?", user_message_id: "u1", message_id: "a1", answer_mode: "generative" }) +
      frame("delta", { text: "Refunds take " }) +
      frame("delta", { text: "5 days [1]." }) +
      frame("sources", { sources: [source], omitted: [] }) +
      frame("usage", {
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        cost: "0.00010000",
        model: "m",
        provider: "p",
        time_to_first_token_ms: 40,
        latency_ms: 90,
      }) +
      frame("done", { message_id: "a1", status: "complete" });
    // Cut at arbitrary byte offsets: frames arrive split across reads.
    const chunks = [stream.slice(0, 7), stream.slice(7, 60), stream.slice(60, 61), stream.slice(61, 250), stream.slice(250)];
    const fetchMock = vi.fn(async () => sseResponse(chunks));
    vi.stubGlobal("fetch", fetchMock);
    const onSession = vi.fn();
    const onSettled = vi.fn();
    const { result } = renderHook(() => useChatStream({ onSession, onSettled }));

    act(() => result.current.setMessages([question, placeholder]));
    await act(() => result.current.run({ path: "/api/v1/chat", body: { message: "Refunds?" }, placeholder, question }));

    const [asked, answer] = result.current.messages;
    expect(asked.id).toBe("u1");
    expect(answer).toMatchObject({
      id: "a1",
      reply_to: "u1",
      content: "Refunds take 5 days [1].",
      streaming: false,
      total_tokens: 15,
      cost: "0.00010000",
      latency_ms: 90,
    });
    expect(answer.sources).toEqual([source]);
    expect(result.current.streaming).toBe(false);
    expect(result.current.error).toBeNull();
    expect(onSession).toHaveBeenCalledWith(expect.objectContaining({ session_id: "s1" }));
    expect(onSettled).toHaveBeenCalledTimes(1);
    expect(onSettled).toHaveBeenCalledWith("s1");
    const [path, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(path).toBe("/api/v1/chat");
    expect((init.headers as Record<string, string>).Accept).toBe("text/event-stream");
  });

  it("shows a provider's error event on the answer", async () => {
    vi.stubGlobal("fetch", async () =>
      sseResponse([
        frame("session", { session_id: "s1", title: "", user_message_id: "u1", message_id: "a1", answer_mode: "generative" }),
        frame("delta", { text: "Part" }),
        frame("error", { code: "provider_error", message: "The model is unavailable." }),
      ]),
    );
    const { result } = renderHook(() => useChatStream());
    act(() => result.current.setMessages([question, placeholder]));
    await act(() => result.current.run({ path: "/api/v1/chat", body: {}, placeholder, question }));
    expect(result.current.messages[1]).toMatchObject({
      id: "a1",
      content: "Part",
      streaming: false,
      streamError: "The model is unavailable.",
    });
  });

  it("on a refusal keeps nothing half-sent: the error, the draft given back, no settle", async () => {
    vi.stubGlobal(
      "fetch",
      async () =>
        new Response(
          JSON.stringify({
            error: {
              code: "invalid",
              message: "Invalid input.",
              fields: { message: ["Ensure this field has no more than 8000 characters."] },
            },
          }),
          {
            status: 400,
            headers: { "Content-Type": "application/json" },
          },
        ),
    );
    const restore = vi.fn();
    const onSettled = vi.fn();
    const { result } = renderHook(() => useChatStream({ onSettled }));
    act(() => result.current.setMessages([question, placeholder]));
    await act(() => result.current.run({ path: "/api/v1/chat", body: {}, placeholder, question, restore, sessionId: "s1" }));
    expect(result.current.messages).toEqual([]);
    expect(restore).toHaveBeenCalledTimes(1);
    expect(result.current.error).toMatchObject({
      status: 400,
      fields: { message: ["Ensure this field has no more than 8000 characters."] },
    });
    // The conversation exists: it is reloaded (what the server stored is the truth).
    expect(onSettled).toHaveBeenCalledWith("s1");
  });
});
