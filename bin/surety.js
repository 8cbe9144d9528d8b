#!/usr/bin/env node
// The `surety` command. Surety is TypeScript run directly by Node.js 24 (type stripping), so an
// older `node` on PATH cannot load it: say so plainly instead of failing on a syntax error.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `surety needs Node.js 24 or newer; the \`node\` on your PATH is ${process.version}.\n` +
      'Run it through npm, which puts the project\'s pinned Node 24 first on PATH:\n' +
      '  npx surety <command>            (in the project directory)\n' +
      '  npm run surety -- <command>\n' +
      '  npm start                       (the gateway)\n',
  );
  process.exit(1);
}
// Cache compiled modules between runs (Node's own cache in the temp directory): a CLI starts often.
import('node:module')
  .then((m) => m.enableCompileCache?.())
  .catch(() => {})
  .then(() => import('../src/cli/main.ts'))
  .then(
  (m) => m.main(process.argv.slice(2)),
  (e) => {
    process.stderr.write(`surety: cannot load the CLI: ${(e && e.stack) || e}\n`);
    process.exit(1);
  },
);
