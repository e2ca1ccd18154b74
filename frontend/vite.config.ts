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
    // One jsdom per worker, each file in a fresh VM context of it: a third of the CPU of a
    // process per file (jsdom's start-up was most of the run). The stream hook's test
    // reads a fetch body (Node's streams, whose byte arrays are not the VM context's
    // Uint8Array): it keeps a process of its own.
    pool: "vmThreads",
    poolMatchGlobs: [["**/src/chat/useChatStream.test.tsx", "forks"]],
  },
  server: {
    proxy: Object.fromEntries(proxied.map((path) => [path, { target: server, changeOrigin: false, ws: path === "/ws" }])),
  },
});
