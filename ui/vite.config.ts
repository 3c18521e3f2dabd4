import { defineConfig } from "vitest/config";

// Preact's JSX through esbuild: no plugin needed.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { target: "es2021", outDir: "dist", emptyOutDir: true, sourcemap: false },
  clearScreen: false,
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
