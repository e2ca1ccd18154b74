// What the forms' unit tests share: a page rendered as the app renders it (query cache,
// toasts, the signed-in session, the router), and a stand-in for the server behind
// `fetch` that answers in the API's real formats: the one error shape
// {"error": {code, message, fields}} (core/api/errors.py) and allauth's headless
// {"status", "errors": [{message, code, param}]}.
import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router-dom";
import { expect, vi } from "vitest";
import { createQueryClient } from "../api/query";
import { SessionProvider } from "../session";
import { ToastProvider } from "../ui/toast";

export const json = (body: unknown, status = 200) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/** A refusal in the API's one error format. */
export const invalid = (fields: Record<string, string[]>, message = "Invalid input.", status = 400) =>
  json({ error: { code: "invalid", message, fields } }, status);

export const apiError = (status: number, code: string, message: string) => json({ error: { code, message, fields: {} } }, status);

export const page = <T,>(results: T[]) => ({ count: results.length, next: null, previous: null, results });

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

type Handler = (call: Call) => Response | Promise<Response>;

/** A promise the test settles by hand: holds a response while the form is checked. */
export function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * Stubs `fetch` with a server: `"METHOD /path"` keys (`:name` matches one segment) to
 * handlers; a GET nobody handles is an empty page (a list the page asks for on the
 * side), any other unhandled request fails the test. Every call is recorded.
 */
export function fakeServer(routes: Record<string, Handler>) {
  const calls: Call[] = [];
  const unhandled: string[] = [];
  const table = Object.entries(routes).map(([key, handler]) => {
    const [method, pattern] = key.split(" ");
    const regex = new RegExp("^" + pattern.replace(/:[a-z_]+/g, "[^/]+") + "/?$");
    return { method, regex, handler };
  });
  vi.stubGlobal("fetch", async (input: Request | string, init?: RequestInit) => {
    const request = typeof input === "string" ? new Request(new URL(input, "http://acme.localhost"), init) : input;
    const url = new URL(request.url);
    const text = request.body ? await request.clone().text() : "";
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    const call = { method: request.method, path: url.pathname, query: url.searchParams, body };
    calls.push(call);
    const route = table.find((entry) => entry.method === call.method && entry.regex.test(call.path));
    if (route) return route.handler(call);
    if (call.method === "GET") return json(page([]));
    unhandled.push(`${call.method} ${call.path}`);
    return apiError(500, "error", `unhandled in the test: ${call.method} ${call.path}`);
  });
  return {
    calls,
    unhandled,
    /** The bodies sent to one route, in order. */
    sent: (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path).map((c) => c.body),
  };
}

function Where() {
  const location = useLocation();
  return <div data-testid="location">{location.pathname + location.search}</div>;
}

/** Renders `ui` at `route` (matched by `path`, or each of several paths as App.tsx routes
 * them, for their params), inside the app's providers; any other address shows
 * `location` (where a form sent the user). */
export function renderPage(ui: ReactElement, { route = "/", path = route }: { route?: string; path?: string | string[] } = {}) {
  return render(
    <QueryClientProvider client={createQueryClient()}>
      <ToastProvider>
        <SessionProvider>
          <MemoryRouter initialEntries={[route]}>
            <Routes>
              {(Array.isArray(path) ? path : [path]).map((each) => (
                <Route key={each} path={each} element={ui} />
              ))}
              <Route path="*" element={<Where />} />
            </Routes>
          </MemoryRouter>
        </SessionProvider>
      </ToastProvider>
    </QueryClientProvider>,
  );
}

/** The input labelled `label`, with the server's `message` shown under it (in its own
 * field, tied to it for screen readers), not only in the form's general alert. */
export function expectFieldError(label: string | RegExp, name: string, message: string) {
  const input = screen.getByLabelText(label);
  const field = input.closest(".field");
  expect(field, `no .field around ${String(label)}`).not.toBeNull();
  const errors = within(field as HTMLElement).getByTestId(`field-error-${name}`);
  expect(errors.textContent).toContain(message);
  expect(input.getAttribute("aria-invalid")).toBe("true");
  expect(input.getAttribute("aria-describedby") ?? "").toContain(errors.id);
}

export const toasts = () => screen.queryAllByTestId("toast").map((toast) => toast.textContent ?? "");
