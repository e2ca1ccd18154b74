// Who is signed in on this host, and what their role lets them do.
import { useQueryClient } from "@tanstack/react-query";
import { createContext, type ReactNode, useCallback, useContext, useEffect, useState } from "react";
import { ApiError, client, unwrap } from "./api/client";
import type { Me, Role } from "./api/types";
import { config, isPublicHost } from "./config";

type State =
  | { status: "loading" }
  | { status: "anonymous" }
  | { status: "outsider" } // logged in, but not a member of this organization
  | { status: "error"; error: unknown }
  | { status: "member"; me: Me };

interface SessionValue {
  state: State;
  /** Asks the server again (after logging in or joining). */
  refresh: () => Promise<void>;
  /** After logging out: no need to ask. */
  clear: () => void;
}

// What the page was served with (users/spa.py) decides whether /api/v1/me is worth
// asking: a request known to fail would only add an error to the browser console, and
// a member's page carries /me's answer, so no page waits for it before its own requests.
function initialState(): State {
  if (isPublicHost || !config.user.authenticated) return { status: "anonymous" };
  if (!config.user.member) return { status: "outsider" };
  if (config.me) return { status: "member", me: config.me };
  return { status: "loading" };
}

const SessionContext = createContext<SessionValue>({ state: { status: "loading" }, refresh: async () => {}, clear: () => {} });

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<State>(initialState);
  const queryClient = useQueryClient();
  const refresh = useCallback(async () => {
    // Someone else may be signed in now: nothing cached for the previous one is kept.
    queryClient.clear();
    try {
      const me = await unwrap(client.GET("/api/v1/me"));
      setState({ status: "member", me });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) setState({ status: "anonymous" });
      else if (error instanceof ApiError && error.status === 404) setState({ status: "outsider" });
      else setState({ status: "error", error });
    }
  }, [queryClient]);
  const clear = useCallback(() => {
    queryClient.clear();
    setState({ status: "anonymous" });
  }, [queryClient]);
  useEffect(() => {
    if (initialState().status === "loading") void refresh();
  }, [refresh]);
  // Who is signed in, for the routes' prefetching (api/routeData.ts) to ask what they see.
  const me = state.status === "member" ? state.me : null;
  useEffect(() => {
    if (me) queryClient.setQueryData(["get", "/api/v1/me"], me);
  }, [me, queryClient]);
  return <SessionContext.Provider value={{ state, refresh, clear }}>{children}</SessionContext.Provider>;
}

export function useSession() {
  return useContext(SessionContext);
}

/** The signed-in member; only used under the member-only layout. */
export function useMe(): Me {
  const { state } = useSession();
  if (state.status !== "member") throw new Error("useMe outside a member's page");
  return state.me;
}

export function usePermissions() {
  const role: Role = useMe().role;
  return { role, canEdit: role === "admin" || role === "member", isAdmin: role === "admin" };
}
