import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The console is served by the gateway at /console (src/console/static.ts) from console/dist,
// which is committed (see README "Web console"): `npm run console:build` rebuilds it.
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  plugins: [preact({ devToolsInProd: false, prefreshEnabled: false })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    modulePreload: { polyfill: false },
  },
  server: { proxy: { '/account': 'http://127.0.0.1:8787', '/admin': 'http://127.0.0.1:8787', '/console/api': 'http://127.0.0.1:8787' } },
});
