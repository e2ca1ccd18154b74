// @vitest-environment jsdom
// The data layer: a page's query and a mutation that invalidates it. After the write the
// list on screen is fetched again (no reload by hand), and a refusal shows the server's
// message in the one error format.
import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { client, unwrap } from "./client";
import { $api, createQueryClient, useAction } from "./query";
import { ErrorMessage } from "../ui";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function Collections() {
  const list = $api.useQuery("get", "/api/v1/collections", { params: { query: { page_size: 100 } } });
  const create = useAction((name: string) => unwrap(client.POST("/api/v1/collections", { body: { name } })), {
    invalidates: ["/api/v1/collections"],
  });
  return (
    <div>
      <ul>
        {list.data?.results.map((item) => (
          <li key={item.id}>{item.name}</li>
        ))}
      </ul>
      <button type="button" onClick={() => void create.run("Handbook")}>
        Create
      </button>
      <button type="button" onClick={() => void create.run("")}>
        Create empty
      </button>
      <ErrorMessage error={create.error} />
    </div>
  );
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("queries and mutations", () => {
  it("fetches the list again after a write that invalidates it", async () => {
    const names = ["Policies"];
    const requests: string[] = [];
    vi.stubGlobal("fetch", async (request: Request) => {
      const url = new URL(request.url);
      requests.push(`${request.method} ${url.pathname}`);
      if (request.method === "POST") {
        const body = await request.json();
        if (!body.name)
          return json({ error: { code: "invalid", message: "Invalid input.", fields: { name: ["This field may not be blank."] } } }, 400);
        names.push(body.name);
        return json({ id: String(names.length), name: body.name }, 201);
      }
      expect(url.searchParams.get("page_size")).toBe("100");
      return json({ count: names.length, next: null, previous: null, results: names.map((name, i) => ({ id: String(i + 1), name })) });
    });
    render(
      <QueryClientProvider client={createQueryClient()}>
        <Collections />
      </QueryClientProvider>,
    );
    await screen.findByText("Policies");

    fireEvent.click(screen.getByRole("button", { name: "Create" }));
    await screen.findByText("Handbook");
    expect(requests).toEqual(["GET /api/v1/collections", "POST /api/v1/collections", "GET /api/v1/collections"]);
    expect(screen.queryByRole("alert")).toBeNull();

    fireEvent.click(screen.getByRole("button", { name: "Create empty" }));
    await waitFor(() => expect(screen.getByRole("alert").textContent).toBe("Invalid input."));
    // A refused write changes nothing: the list is not asked for again.
    expect(requests.filter((line) => line.startsWith("GET"))).toHaveLength(2);
  });
});
