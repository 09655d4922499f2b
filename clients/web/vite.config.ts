import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { defineConfig, type Plugin } from "vitest/config";

/**
 * The service worker is its own entry (src/sw/worker.ts -> sw.js, no hash in
 * its name so the browser finds the new one). Once the bundle is written
 * out, this prepends the build's shell to it: every emitted file but source
 * maps and the worker itself, plus public/, and a version made from their
 * contents, so a new build replaces the old shell cache and nothing else.
 */
function serviceWorkerShell(): Plugin {
  return {
    name: "knotwork-sw-shell",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      const sw = bundle["sw.js"];
      if (!sw || sw.type !== "chunk") throw new Error("sw.js missing from the bundle");
      if (sw.imports.length) throw new Error(`sw.js must not share chunks with the page, imports ${sw.imports.join(", ")}`);
      const files = Object.keys(bundle)
        .filter((f) => f !== "sw.js" && !f.endsWith(".map"))
        .sort();
      const publicFiles = readdirSync(new URL("./public", import.meta.url)).sort();
      const hash = createHash("sha256");
      for (const f of files) {
        const item = bundle[f];
        hash.update(f);
        hash.update(item.type === "chunk" ? item.code : typeof item.source === "string" ? item.source : Buffer.from(item.source));
      }
      for (const f of publicFiles) hash.update(f);
      const build = { version: hash.digest("hex").slice(0, 16), shell: [...files, ...publicFiles] };
      sw.code = `self.__KNOTWORK_BUILD__ = ${JSON.stringify(build)};\n${sw.code}`;
    },
  };
}

// Plain Vite: Preact's automatic JSX runtime through esbuild, no framework plugin.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    target: "es2022",
    sourcemap: true,
    rollupOptions: {
      input: { index: "index.html", sw: "src/sw/worker.ts" },
      output: { entryFileNames: (chunk) => (chunk.name === "sw" ? "sw.js" : "assets/[name]-[hash].js") },
    },
  },
  plugins: [serviceWorkerShell()],
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
