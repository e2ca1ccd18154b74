// The data layer: TanStack Query over the generated OpenAPI client.
//
// - `$api.useQuery("get", path, init)` caches each read under ["get", path, init]: the
//   path template and its parameters, so two pages asking the same thing share it.
// - Every hook of a page starts its request on the page's first render, side by side
//   (nothing waits for /api/v1/me: the app shell carries who is signed in).
// - `useAction(fn, { invalidates })` runs a write through TanStack's useMutation and,
//   once it succeeded, invalidates every cached read under the given API paths (a
//   prefix: "/api/v1/collections" covers the list, each collection and its documents),
//   so the pages showing them fetch again; no page reloads by hand.
// - Failures are ApiErrors (api/client.ts): the query's or the mutation's `error`,
//   shown by <ErrorMessage> in the one format the UI uses.
import { keepPreviousData, QueryClient, useMutation, useQueryClient, type Query } from "@tanstack/react-query";
import createQueryHooks from "openapi-react-query";
import { useCallback } from "react";
import { ApiError, client } from "./client";

export const $api = createQueryHooks(client);

/** An API path of the schema, or a prefix of one (what a mutation invalidates). */
export type ApiPath = string;

function retry(failures: number, error: unknown) {
  // A refusal (4xx) will not change by asking again; a network or server error may.
  if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
  return failures < 2;
}

export function createQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Stale-while-revalidate: a page opened again shows what is cached at once and
        // asks again in the background (others' writes, Celery's work and the other
        // channels change the data too). Within 5 s it is not asked again: the same
        // query in two components, a route's prefetch then its page, a quick back-and-
        // forth. Catalogs that change with a deployment keep longer (per query).
        staleTime: 5_000,
        gcTime: 5 * 60_000,
        retry,
        // A page whose parameters change (next page, a filter) keeps showing the last
        // answer until the new one arrives, as the dashboard always did.
        placeholderData: keepPreviousData,
        refetchOnWindowFocus: false,
      },
      mutations: { retry: false },
    },
  });
}

/** The app's one cache (main.tsx provides it; routes prefetch into it). */
export const queryClient = createQueryClient();

function pathOf(query: Query): string | undefined {
  const path = query.queryKey[1];
  return typeof path === "string" ? path : undefined;
}

/** Marks every cached read under these API paths stale and refetches the ones on screen. */
export function invalidatePaths(queryClient: QueryClient, paths: readonly ApiPath[]) {
  return queryClient.invalidateQueries({
    predicate: (query) => {
      const path = pathOf(query);
      return path !== undefined && paths.some((prefix) => path === prefix || path.startsWith(prefix + "/"));
    },
  });
}

export function useInvalidate() {
  const queryClient = useQueryClient();
  return useCallback((...paths: ApiPath[]) => invalidatePaths(queryClient, paths), [queryClient]);
}

/** Drops the cached reads of something deleted (a path and everything under it), so a
 * page still on screen does not fetch it again (a 404) before it navigates away. */
export function useForget() {
  const queryClient = useQueryClient();
  return useCallback(
    (path: string) =>
      queryClient.removeQueries({
        predicate: (query) => {
          const cached = pathOf(query);
          return cached !== undefined && (cached === path || cached.startsWith(path + "/"));
        },
      }),
    [queryClient],
  );
}

interface ActionOptions<R> {
  /** API paths whose cached reads this write changes (prefixes). */
  invalidates?: readonly ApiPath[];
  onSuccess?: (result: R) => void;
}

/** A write (a form's submit, a button): TanStack's mutation with `busy` and the error to
 * show next to its control; `run` resolves to the result, or undefined when it failed
 * (the error is then in `error`). On success the `invalidates` paths are fetched again. */
export function useAction<A extends unknown[], R>(action: (...args: A) => Promise<R>, options: ActionOptions<R> = {}) {
  const queryClient = useQueryClient();
  const mutation = useMutation<R, unknown, Promise<R>>({
    // The action is started by `run` itself, in the event handler: its synchronous part
    // (preventDefault, reading the form from event.currentTarget) must run before the
    // event is over; the mutation awaits the promise it returned.
    mutationFn: (started) => started,
    onSuccess: async (result) => {
      options.onSuccess?.(result);
      if (options.invalidates?.length) await invalidatePaths(queryClient, options.invalidates);
    },
  });
  const { mutateAsync, reset } = mutation;
  const run = useCallback(
    async (...args: A): Promise<R | undefined> => {
      const started = action(...args);
      try {
        return await mutateAsync(started);
      } catch {
        return undefined;
      }
    },
    // `action` closes over the component's current state: the latest one runs.
    [mutateAsync, action],
  );
  const setError = useCallback(
    (value: unknown) => {
      if (!value) reset();
    },
    [reset],
  );
  return { run, busy: mutation.isPending, error: mutation.error ?? null, setError };
}
