// A link's click starts the next page's requests before React renders it: the Security
// page's (allauth's authenticators, the organization's two-factor setting for an admin)
// and home's (with the admin's getting-started checklist, asked on every visit).
import { describe, expect, it } from "vitest";
import { fakeServer, json } from "../test/harness";
import { ME } from "../test/setup";
import { createQueryClient } from "./query";
import { prefetchRoute } from "./routeData";

function started(path: string, role = "admin") {
  const server = fakeServer({ "GET /_allauth/browser/v1/account/authenticators": async () => json({ status: 200, data: [] }) });
  const queryClient = createQueryClient();
  queryClient.setQueryData(["get", "/api/v1/me"], { ...ME, role });
  prefetchRoute(queryClient, path);
  return { queryClient, paths: () => server.calls.map((call) => call.path).sort() };
}

describe("prefetchRoute", () => {
  it("starts the Security page's requests", async () => {
    const admin = started("/security");
    await expect.poll(admin.paths).toEqual(["/_allauth/browser/v1/account/authenticators", "/api/v1/organization"]);
    const member = started("/security", "member");
    await expect.poll(member.paths).toEqual(["/_allauth/browser/v1/account/authenticators"]);
  });

  it("starts a collection's three requests", async () => {
    const collection = started("/knowledge/c1");
    await expect
      .poll(collection.paths)
      .toEqual(["/api/v1/collections/c1", "/api/v1/collections/c1/documents", "/api/v1/collections/c1/sitemaps"]);
  });

  it("asks home's checklist again on every visit, even when it is cached", async () => {
    const home = started("/");
    await expect
      .poll(home.paths)
      .toEqual(["/api/v1/conversations/insights", "/api/v1/onboarding", "/api/v1/usage", "/api/v1/usage/quotas"]);
    await expect.poll(() => home.queryClient.isFetching()).toBe(0);
    prefetchRoute(home.queryClient, "/");
    await expect.poll(() => home.paths().filter((path) => path === "/api/v1/onboarding")).toHaveLength(2);
    // The rest is fresh (within staleTime): not asked again.
    expect(home.paths().filter((path) => path === "/api/v1/usage")).toHaveLength(1);
  });
});
