// The Security page's first request (allauth's authenticators: no OpenAPI path, so not an
// `$api` query), shared by the page and by the link's click that opens it
// (api/routeData.ts), so the request starts before the page renders.
import { queryOptions } from "@tanstack/react-query";
import { allauth, allauthError } from "../api/allauth";

export interface Authenticator {
  type: "totp" | "recovery_codes" | string;
  created_at?: number;
  last_used_at?: number | null;
  total_code_count?: number;
  unused_code_count?: number;
  unused_codes?: string[];
}

export const authenticatorsQuery = queryOptions({
  queryKey: ["allauth", "/account/authenticators"],
  queryFn: async () => {
    const response = await allauth<Authenticator[]>("GET", "/account/authenticators");
    if (response.status !== 200) throw allauthError(response);
    return response.data ?? [];
  },
});
