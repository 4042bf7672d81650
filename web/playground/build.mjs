// Bundles the playground into ../../internal/surface/playground/dist, which the
// server embeds. The output is committed; CI rebuilds it and fails when it
// differs, so the committed files always come from this source and the
// locked packages.
import * as esbuild from 'esbuild';
import { rmSync } from 'node:fs';

const outdir = new URL('../../internal/surface/playground/dist/', import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true });

const common = {
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome120', 'firefox120', 'safari17'],
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'linked',
  logLevel: 'warning',
  outdir,
};

await esbuild.build({
  ...common,
  entryPoints: { playground: 'src/main.jsx' },
  jsx: 'automatic',
  loader: { '.ttf': 'file', '.graphql': 'text' },
  assetNames: '[name]',
});

await esbuild.build({
  ...common,
  entryPoints: {
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
    'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
  },
});
