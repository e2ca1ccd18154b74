// What the server tells the app about this host (injected by users/spa.py).
import type { Me } from "./api/types";

export interface AppConfig {
  host: "public" | "organization";
  organization: { slug: string; name: string } | null;
  baseDomain: string;
  publicUrl: string;
  csrfCookieName: string;
  user: { authenticated: boolean; member: boolean };
  /** What GET /api/v1/me answers, when the signed-in user is a member (else null). */
  me?: Me | null;
  chatMaxMessageChars: number;
}

function readConfig(): AppConfig {
  const element = document.getElementById("app-config");
  if (element?.textContent) return JSON.parse(element.textContent) as AppConfig;
  // Served without the server's injection (e.g. the Vite dev server): guess from the host.
  const [first, ...rest] = window.location.hostname.split(".");
  const isPublic = rest.length === 0 || first === "www";
  return {
    host: isPublic ? "public" : "organization",
    organization: isPublic ? null : { slug: first, name: first },
    baseDomain: isPublic ? window.location.hostname : rest.join("."),
    publicUrl: window.location.origin,
    csrfCookieName: "csrftoken",
    user: { authenticated: !isPublic, member: !isPublic },
    chatMaxMessageChars: 8000,
  };
}

export const config = readConfig();
export const isPublicHost = config.host === "public";
