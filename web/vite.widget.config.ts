// The widget: one classic (IIFE) script, widget.js, with its CSS inside it. A classic script is
// fetched without CORS, so any docs site can include it; its styles live in a shadow root.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    sourcemap: false,
    lib: {
      entry: 'src/widget.tsx',
      name: 'ChatplaneWidget',
      formats: ['iife'],
      fileName: () => 'widget.js',
    },
  },
});
