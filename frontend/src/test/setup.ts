// Runs before each unit-test file (vite.config.ts `test.setupFiles`), before the file's
// imports: the page is served as the server serves an organization's dashboard to a
// signed-in admin (users/spa.py's #app-config), and jsdom gets the one browser API the
// dashboard uses that it lacks (<dialog>'s showModal).
import { cleanup, configure } from "@testing-library/react";
import { afterEach, vi } from "vitest";
import type { AppConfig } from "../config";

// findBy*/waitFor give up after 10 s, not 1 s: beside pytest (ADR 0112) a page may take
// that long to render on a busy machine; a passing test still returns at once.
configure({ asyncUtilTimeout: 10_000 });

export const ME = {
  user: { id: "u-admin", email: "ada@acme.test", name: "Ada Admin" },
  organization: { id: "o1", name: "Acme", slug: "acme" },
  role: "admin",
  organizations: [],
  two_factor_setup_required: false,
};

const appConfig: AppConfig = {
  host: "organization",
  organization: { slug: "acme", name: "Acme" },
  baseDomain: "localhost",
  publicUrl: "http://localhost",
  csrfCookieName: "csrftoken",
  user: { authenticated: true, member: true },
  me: ME as unknown as AppConfig["me"],
  chatMaxMessageChars: 8000,
};

if (typeof document !== "undefined") {
  const script = document.createElement("script");
  script.type = "application/json";
  script.id = "app-config";
  script.textContent = JSON.stringify(appConfig);
  document.head.appendChild(script);

  // jsdom has <dialog> but not its modal methods.
  const dialog = window.HTMLDialogElement?.prototype;
  if (dialog && !dialog.showModal) {
    dialog.showModal = function (this: HTMLDialogElement) {
      this.setAttribute("open", "");
    };
    dialog.close = function (this: HTMLDialogElement) {
      this.removeAttribute("open");
    };
  }
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});
