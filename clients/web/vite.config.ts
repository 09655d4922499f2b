import { defineConfig } from "vitest/config";

// Plain Vite: Preact's automatic JSX runtime through esbuild, no framework plugin.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { target: "es2022", sourcemap: true },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
