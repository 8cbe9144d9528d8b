// `surety sim [--port N] [--host H] [--time-scale X] [--quiet]`
// Starts the simulator, prints its URL and runs until SIGINT/SIGTERM; the returned promise
// resolves once the simulator has closed.

import { fileURLToPath } from 'node:url';
import { startSimulator } from './server.ts';

const USAGE = `usage: surety sim [--port N] [--host H] [--time-scale X] [--quiet]

  --port N          listen port (default 8787; 0 picks a free port)
  --host H          listen address (default 127.0.0.1)
  --time-scale X    real delay = simulated delay * X (default 1)
  --quiet           do not log anything but the URL
`;

interface CliArgs {
  port: number;
  host: string;
  timeScale: number;
  help: boolean;
}

export function parseSimArgs(argv: string[]): CliArgs {
  const out: CliArgs = { port: 8787, host: '127.0.0.1', timeScale: 1, help: false };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const value = (): string => {
      if (v !== undefined) return v;
      const next = argv[++i];
      if (next === undefined) throw new Error(`${a} needs a value`);
      return next;
    };
    switch (a) {
      case '--port':
      case '-p': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error('--port must be an integer 0..65535');
        out.port = n;
        break;
      }
      case '--host':
        out.host = value();
        break;
      case '--time-scale':
      case '--timescale': {
        const n = Number(value());
        if (!Number.isFinite(n) || n < 0) throw new Error('--time-scale must be a number >= 0');
        out.timeScale = n;
        break;
      }
      case '--quiet':
      case '-q':
        break;
      case '--help':
      case '-h':
        out.help = true;
        break;
      default:
        throw new Error(`unknown option ${a}\n\n${USAGE}`);
    }
  }
  return out;
}

export async function runSimCli(argv: string[]): Promise<void> {
  const args = parseSimArgs(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  const sim = await startSimulator({ host: args.host, port: args.port, timeScale: args.timeScale, quiet: true });
  process.stdout.write(`surety sim listening on ${sim.url} (time scale ${args.timeScale})\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void sim.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runSimCli(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}
