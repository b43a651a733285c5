import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The aiohttp server (api/) listens on 8080 and serves ui/dist at "/"; in `npm run dev`
// Vite proxies the API and the live-tail WebSocket to it so the browser sees one origin.
// changeOrigin stays false: the WebSocket endpoint accepts an Origin equal to the request's Host,
// and both then name the dev server.
declare const process: { env: Record<string, string | undefined> };
// ACTIVITY_API_URL points the proxy at a server on another port (e.g. a second instance for e2e).
const backend = process.env.ACTIVITY_API_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    sourcemap: true,
  },
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: false },
      "/ws": { target: backend, ws: true, changeOrigin: false },
    },
  },
  preview: {
    proxy: {
      "/api": { target: backend, changeOrigin: false },
      "/ws": { target: backend, ws: true, changeOrigin: false },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
    restoreMocks: true,
    // The machine has two cores shared with other builds.
    maxWorkers: 2,
  },
});
