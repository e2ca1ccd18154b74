/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Built into dist/ and served by Django (users/spa.py + whitenoise). `npm run dev`
// is optional: it proxies the server's paths to `make dev` on port 8000.
const server = "http://127.0.0.1:8000";
const proxied = ["/api", "/_allauth", "/accounts", "/switch", "/handoff", "/admin", "/ws"];

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      output: {
        manualChunks: { charts: ["recharts"], react: ["react", "react-dom", "react-router-dom"] },
      },
    },
  },
  // Unit tests (`npm run test`): jsdom, the page as the server serves it to an admin
  // (src/test/setup.ts).
  test: {
    environment: "jsdom",
    setupFiles: ["src/test/setup.ts"],
    // A process per test file: the VM-context pool ("vmThreads", a third of the CPU)
    // crashed Node with a segmentation fault in a clean clone's run.
    pool: "forks",
    // `make test` runs Vitest beside pytest at low priority (ADR 0112): a test starved of
    // CPU is slow, not wrong. 5 s (Vitest's default) failed a form test in CI that way.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
  server: {
    proxy: Object.fromEntries(proxied.map((path) => [path, { target: server, changeOrigin: false, ws: path === "/ws" }])),
  },
});
