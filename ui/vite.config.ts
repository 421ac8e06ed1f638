import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

// The UI is served by Tauri from `ui/dist` (see src-tauri/tauri.conf.json); the dev
// server on port 1420 is only used by `npm run tauri:dev`.
export default defineConfig(({ mode }) => ({
  // `svelteTesting` (browser build of Svelte, cleanup between tests) only under vitest.
  plugins: mode === 'test' ? [svelte(), svelteTesting()] : [svelte()],
  clearScreen: false,
  server: {
    port: 1420,
    strictPort: true,
    watch: { ignored: ['**/src-tauri/**'] },
  },
  envPrefix: ['VITE_', 'TAURI_ENV_'],
  build: {
    // WebKitGTK 2.40+ (Debian 12), WebView2 and recent Safari.
    target: ['es2022', 'safari16', 'chrome105'],
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // Assets inlined as data: URLs would be fine for images under the CSP, but keep
    // everything a file so the CSP never needs widening.
    assetsInlineLimit: 0,
  },
  test: {
    include: ['src/**/*.test.ts'],
    // Pure logic runs in node; component tests opt into jsdom with a file comment.
    environment: 'node',
  },
}));
