// The home page's requests, shared by the page and by the route that loads it: the page's
// code (with the chart library) is a separate chunk, so its requests would otherwise
// start only once that chunk has arrived (a waterfall). The route starts them at once,
// side by side with the chunk; the page's hooks then find them in the cache or in flight.
import type { QueryClient } from "@tanstack/react-query";
import { $api } from "../api/query";
import type { UsageGroupBy } from "../api/types";

function isoDay(date: Date) {
  return date.toISOString().slice(0, 10);
}

export function usageRange(days: number) {
  const end = new Date();
  const start = new Date(end.getTime() - (days - 1) * 86400000);
  return { start: isoDay(start), end: isoDay(end) };
}

export const DEFAULT_DAYS = 30;
export const DEFAULT_GROUP: UsageGroupBy = "day";
/** The conversation insights' default period: all time, by month. */
export const DEFAULT_INSIGHTS = { bucket: "month" as const };

export function usageInit(range: { start: string; end: string }, groupBy: UsageGroupBy) {
  return { params: { query: { start: range.start, end: range.end, group_by: groupBy, page_size: 400 } } };
}

/** Starts the home page's requests (admins also see the usage chart). */
export function prefetchHome(queryClient: QueryClient, isAdmin: boolean) {
  void queryClient.prefetchQuery($api.queryOptions("get", "/api/v1/usage/quotas"));
  void queryClient.prefetchQuery($api.queryOptions("get", "/api/v1/conversations/insights", { params: { query: DEFAULT_INSIGHTS } }));
  if (isAdmin)
    void queryClient.prefetchQuery($api.queryOptions("get", "/api/v1/usage", usageInit(usageRange(DEFAULT_DAYS), DEFAULT_GROUP)));
}
