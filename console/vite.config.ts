import { defineConfig } from 'vite';

// The gateway serves dist/ at /_granary/console/ (embedded in the binary at compile time).
// Output is reproducible: content-hashed names, no timestamps, no source maps.
// `npm run dev` / `npm run preview` proxy every other path to a running gateway
// (GRANARY_URL, default http://127.0.0.1:9000); the Host header is kept, so the browser's
// SigV4 signatures (which cover it) still verify.
const gateway = process.env.GRANARY_URL ?? 'http://127.0.0.1:9000';
const proxy = { '^/(?!_granary/console)': { target: gateway, changeOrigin: false } };

export default defineConfig({
  base: '/_granary/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, assetsInlineLimit: 0 },
  server: { proxy },
  preview: { proxy },
});
