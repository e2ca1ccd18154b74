// The one way the app talks to the API: session cookie + X-CSRFToken, and every
// failure turned into an ApiError carrying the server's {code, message, fields}.
import createClient, { type Middleware } from "openapi-fetch";
import { config } from "../config";
import type { paths } from "./schema";

export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  status: number;
  code: string;
  fields: FieldErrors;

  constructor(status: number, code: string, message: string, fields: FieldErrors = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  get notFound() {
    return this.status === 404;
  }
}

export function csrfToken(): string {
  const name = config.csrfCookieName + "=";
  for (const part of document.cookie.split(";")) {
    const cookie = part.trim();
    if (cookie.startsWith(name)) return decodeURIComponent(cookie.slice(name.length));
  }
  return "";
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function baseHeaders(method: string, extra: Record<string, string> = {}) {
  const headers: Record<string, string> = { Accept: "application/json", ...extra };
  if (UNSAFE.has(method.toUpperCase())) headers["X-CSRFToken"] = csrfToken();
  return headers;
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (UNSAFE.has(request.method)) request.headers.set("X-CSRFToken", csrfToken());
    return request;
  },
};

/** fetch, with every failure thrown as an ApiError (the query cache keeps it as the
 * query's error; `unwrap` and the mutations pass it on): a network failure, or a
 * non-2xx answer carrying the server's {code, message, fields}. An abort stays an abort. */
async function apiFetch(request: Request): Promise<Response> {
  let response: Response;
  try {
    response = await globalThis.fetch(request);
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError(0, "network", "The server could not be reached. Check your connection.");
  }
  if (!response.ok) throw await errorFromResponse(response);
  return response;
}

// Same origin; spelled out because a Request outside a browser (the unit tests') needs an
// absolute URL.
export const client = createClient<paths>({ baseUrl: globalThis.location?.origin ?? "", credentials: "same-origin", fetch: apiFetch });
client.use(csrf);

/** Turns a non-JSON or shapeless failure into the one error shape. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.clone().json();
  } catch {
    /* not JSON */
  }
  return errorFromBody(response.status, body);
}

export function errorFromBody(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: string; message?: string; fields?: FieldErrors } })?.error;
  if (error && typeof error === "object") {
    return new ApiError(status, error.code ?? "error", error.message ?? "Request failed.", error.fields ?? {});
  }
  const fallback =
    status === 404
      ? "Not found."
      : status === 403
        ? "You do not have permission to do this."
        : status === 401
          ? "Please log in again."
          : status === 0
            ? "The server could not be reached. Check your connection."
            : `The server answered ${status}.`;
  return new ApiError(status, status === 404 ? "not_found" : "error", fallback);
}

type Result<T> = { data?: T; error?: unknown; response: Response };

/** Unwraps an openapi-fetch result: the data, or a thrown ApiError. */
export async function unwrap<T>(promise: Promise<Result<T>>): Promise<T> {
  let result: Result<T>;
  try {
    result = await promise;
  } catch (cause) {
    if (cause instanceof ApiError) throw cause;
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError(0, "network", "The server could not be reached. Check your connection.");
  }
  if (!result.response.ok) throw errorFromBody(result.response.status, result.error);
  return result.data as T;
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}

/** POSTs a form with XMLHttpRequest (fetch reports no upload progress): the session's
 * headers, `onProgress` with the fraction sent, and the server's refusal as an ApiError. */
export function postFormWithProgress<T>(url: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.withCredentials = true;
    for (const [name, value] of Object.entries(baseHeaders("POST"))) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as T);
      else reject(errorFromBody(xhr.status, body));
    };
    xhr.onerror = () => reject(errorFromBody(0, null));
    xhr.send(form);
  });
}
