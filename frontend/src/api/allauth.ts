// django-allauth's headless API, "browser" client (session cookie + CSRF).
import { ApiError, baseHeaders } from "./client";

const BASE = "/_allauth/browser/v1";

export interface Flow {
  id: string;
  is_pending?: boolean;
}

export interface AllauthResponse<T = unknown> {
  status: number;
  data?: T & { flows?: Flow[] };
  meta?: { is_authenticated?: boolean; [key: string]: unknown };
  errors?: { message: string; code: string; param?: string }[];
}

export async function allauth<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<AllauthResponse<T>> {
  let response: Response;
  try {
    response = await fetch(BASE + path, {
      method,
      credentials: "same-origin",
      headers: baseHeaders(method, {
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...headers,
      }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection.");
  }
  let payload: AllauthResponse<T>;
  try {
    payload = (await response.json()) as AllauthResponse<T>;
  } catch {
    payload = { status: response.status };
  }
  payload.status = response.status;
  return payload;
}

/** allauth's 400 errors, as the app's one error shape (message + per-field). */
export function allauthError(response: AllauthResponse): ApiError {
  const fields: Record<string, string[]> = {};
  let message = "";
  for (const error of response.errors ?? []) {
    if (error.param) (fields[error.param] ??= []).push(error.message);
    else message ||= error.message;
  }
  if (!message) {
    message =
      response.status === 429
        ? "Too many attempts. Wait a few minutes and try again."
        : Object.keys(fields).length
          ? "Please correct the highlighted fields."
          : `The server answered ${response.status}.`;
  }
  return new ApiError(response.status, "invalid", message, fields);
}

export function pendingFlow(response: AllauthResponse): string | null {
  return response.data?.flows?.find((flow) => flow.is_pending)?.id ?? null;
}

/**
 * Logs out through allauth's server-side view: the headless DELETE answers 401 on
 * success, which browsers report as a console error.
 */
export async function logout(): Promise<void> {
  await fetch("/accounts/logout/", {
    method: "POST",
    credentials: "same-origin",
    headers: baseHeaders("POST"),
    redirect: "manual",
  });
}
