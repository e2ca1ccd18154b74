// What each page asks first, started by the click that opens it (a link's click, in the
// capture phase, before React renders the page): the page's render and its requests then
// overlap instead of following each other. The page's own hooks ask the same keys and
// find them in flight or cached. A page missing here still works; it only starts later.
// Only what the page itself asks for the signed-in role: a refused prefetch would be an
// error in the console for nothing.
import type { QueryClient } from "@tanstack/react-query";
import { config } from "../config";
import { prefetchHome } from "../pages/home-data";
import { authenticatorsQuery } from "../pages/security-data";
import { $api } from "./query";
import type { Me } from "./types";

const list100 = { params: { query: { page_size: 100 } } };
const firstPage = { params: { query: { page: 1, page_size: 50 } } };

function queriesFor(path: string, role: Me["role"] | undefined) {
  const isAdmin = role === "admin";
  const canEdit = isAdmin || role === "member";
  const collection = /^\/knowledge\/([^/]+)$/.exec(path);
  if (collection && collection[1] !== "new") {
    const collection_id = collection[1];
    return [
      $api.queryOptions("get", "/api/v1/collections/{collection_id}", { params: { path: { collection_id } } }),
      $api.queryOptions("get", "/api/v1/collections/{collection_id}/documents", {
        params: { path: { collection_id }, query: { page: 1, page_size: 50 } },
      }),
      // Its sitemaps too: they started 7-22 ms after the click (once the page rendered),
      // the last of its three requests to start (bench/frontend.py, collection).
      $api.queryOptions("get", "/api/v1/collections/{collection_id}/sitemaps", {
        params: { path: { collection_id }, query: { page_size: 100 } },
      }),
    ];
  }
  if (path === "/chat" || path.startsWith("/chat/")) {
    return [
      $api.queryOptions("get", "/api/v1/assistants", list100),
      $api.queryOptions("get", "/api/v1/chat/sessions", { params: { query: { archived: false, owner: "me", page_size: 100 } } }),
    ];
  }
  // Admins' pages: others have no link to them (and would be refused).
  if (!isAdmin && ["/api-keys", "/audit", "/webhooks", "/widgets", "/credentials"].includes(path)) return [];
  switch (path) {
    case "/assistants":
      return [$api.queryOptions("get", "/api/v1/assistants", list100)];
    case "/knowledge":
      return [$api.queryOptions("get", "/api/v1/collections", firstPage)];
    case "/search":
      return [$api.queryOptions("get", "/api/v1/collections", list100)];
    case "/members":
      return [
        $api.queryOptions("get", "/api/v1/members", firstPage),
        ...(isAdmin ? [$api.queryOptions("get", "/api/v1/invitations", list100)] : []),
      ];
    case "/api-keys":
      return [$api.queryOptions("get", "/api/v1/api-keys", firstPage), $api.queryOptions("get", "/api/v1/assistants", list100)];
    case "/audit":
      return [$api.queryOptions("get", "/api/v1/audit-events", firstPage)];
    case "/billing":
      return isAdmin
        ? [
            $api.queryOptions("get", "/api/v1/billing", {}),
            $api.queryOptions("get", "/api/v1/billing/plans", list100),
            $api.queryOptions("get", "/api/v1/billing/invoices", { params: { query: { page_size: 24 } } }),
            $api.queryOptions("get", "/api/v1/files/settings"),
          ]
        : [$api.queryOptions("get", "/api/v1/billing/plan", {})];
    case "/prompts":
      return [$api.queryOptions("get", "/api/v1/prompts", list100)];
    case "/workflows":
      return [$api.queryOptions("get", "/api/v1/workflows", list100)];
    case "/integrations":
      return [
        ...(isAdmin ? [$api.queryOptions("get", "/api/v1/integrations", list100)] : []),
        ...(canEdit ? [$api.queryOptions("get", "/api/v1/assistants", list100)] : []),
      ];
    case "/webhooks":
      return [
        $api.queryOptions("get", "/api/v1/webhooks/endpoints", firstPage),
        $api.queryOptions("get", "/api/v1/webhooks/event-types", list100),
      ];
    case "/widgets":
      return [$api.queryOptions("get", "/api/v1/widgets", firstPage)];
    case "/credentials":
      return [$api.queryOptions("get", "/api/v1/credentials", list100), $api.queryOptions("get", "/api/v1/rerankers", list100)];
    case "/security":
      // The organization's "require two-factor" setting is an admin's card.
      return [authenticatorsQuery, ...(isAdmin ? [$api.queryOptions("get", "/api/v1/organization")] : [])];
    case "/import":
      return [$api.queryOptions("get", "/api/v1/conversations/imports", { params: { query: { page_size: 20 } } })];
    default:
      return [];
  }
}

/** Starts the requests of the page at `path` (cached ones younger than staleTime are kept). */
export function prefetchRoute(queryClient: QueryClient, path: string) {
  const me = queryClient.getQueryData<Me>(["get", "/api/v1/me"]) ?? config.me ?? undefined;
  if (!me) return; // not signed in as a member: the page will not ask anything yet
  if (path === "/") {
    prefetchHome(queryClient, me.role === "admin");
    // The admin's getting-started checklist is asked whenever home is shown (staleTime 0):
    // asked here, the page's hook finds it in flight. Not in prefetchHome, which also
    // runs when the page's code is loaded: the checklist would then be asked twice.
    if (me.role === "admin") void queryClient.prefetchQuery({ ...$api.queryOptions("get", "/api/v1/onboarding", {}), staleTime: 0 });
  }
  for (const options of queriesFor(path, me.role))
    void queryClient.prefetchQuery(options as unknown as Parameters<QueryClient["prefetchQuery"]>[0]);
}

/** Prefetches on every click of an in-app link (capture phase: before the route renders). */
export function prefetchOnLinkClicks(queryClient: QueryClient) {
  const onClick = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element | null)?.closest?.("a[href]") as HTMLAnchorElement | null;
    if (!link || link.origin !== window.location.origin || link.target) return;
    if (link.pathname === window.location.pathname) return;
    prefetchRoute(queryClient, link.pathname);
  };
  document.addEventListener("click", onClick, true);
  return () => document.removeEventListener("click", onClick, true);
}
