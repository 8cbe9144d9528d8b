// The `surety` command line: `surety <command> [subcommand] [arguments] [--json]`.
// Commands parse their arguments (node:util parseArgs) and call the same services the HTTP API
// calls, as the operator `cli`; nothing here writes to storage by itself.

import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../kernel/config/load.ts';
import { isAppError } from '../kernel/errors.ts';
import { Io, JSON_OPTION, UsageError, type Command, type OptionSpec } from './framework.ts';
import { commands as accounts } from './accounts.ts';
import { commands as adminKey } from './admin-key.ts';
import { commands as audit } from './audit.ts';
import { commands as codes } from './codes.ts';
import { commands as credits } from './credits.ts';
import { commands as exports } from './export.ts';
import { commands as findings } from './findings.ts';
import { commands as holds } from './holds.ts';
import { commands as incidents } from './incidents.ts';
import { commands as keys } from './keys.ts';
import { commands as ledger } from './ledger.ts';
import { commands as members } from './members.ts';
import { commands as migrate } from './migrate.ts';
import { commands as refunds } from './refunds.ts';
import { commands as secretKey } from './secret-key.ts';
import { commands as sla } from './sla.ts';
import { commands as start } from './start.ts';
import { commands as topups } from './topups.ts';

const sim: Command = {
  name: 'sim',
  summary: 'Run the upstream simulator (OpenAI, Anthropic, Gemini) on its own port',
  details: 'Usage: surety sim [--port N] [--host H] [--time-scale X]   (surety sim --help for more)',
  async raw(argv) {
    // Loaded only when asked for: the simulator is a separate program sharing this binary.
    const { parseSimArgs, runSimCli } = await import('../sim/cli.ts');
    try {
      parseSimArgs(argv);
    } catch (e) {
      throw new UsageError((e as Error).message.split('\n')[0]!, 'sim');
    }
    await runSimCli(argv);
  },
};

/** Every command, in the order `surety help` lists them. */
export const COMMANDS: Command[] = [
  ...start,
  ...migrate,
  sim,
  ...accounts.filter((c) => c.name !== 'balance'),
  ...keys,
  ...members,
  ...topups,
  ...accounts.filter((c) => c.name === 'balance'),
  ...ledger,
  ...refunds,
  ...codes,
  ...credits,
  ...findings,
  ...exports,
  ...incidents,
  ...holds,
  ...sla,
  ...audit,
  ...adminKey,
  ...secretKey,
];

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function usageLine(c: Command): string {
  const args = (c.args ?? []).map((a) => `<${a}>`).join(' ');
  return `surety ${c.name}${args ? ` ${args}` : ''}${c.options && Object.keys(c.options).length ? ' [options]' : ''}`;
}

function commandHelp(c: Command): string {
  const lines = [`${c.summary}`, '', `Usage: ${usageLine(c)}`];
  const opts: Record<string, OptionSpec> = { ...(c.options ?? {}), ...(c.raw ? {} : JSON_OPTION), help: HELP_OPTION };
  const rows = Object.entries(opts).map(([name, o]) => [`${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, o.help] as const);
  const w = Math.max(...rows.map(([l]) => l.length));
  lines.push('', 'Options:', ...rows.map(([l, h]) => `  ${l.padEnd(w)}  ${h}`));
  if (c.details) lines.push('', c.details);
  return `${lines.join('\n')}\n`;
}

function groupHelp(group: string, cmds: Command[]): string {
  const w = Math.max(...cmds.map((c) => usageLine(c).length));
  return [`Usage: surety ${group} <subcommand> …`, '', ...cmds.map((c) => `  ${usageLine(c).padEnd(w)}  ${c.summary}`), '', `Run 'surety ${group} <subcommand> --help' for its options.`, ''].join('\n');
}

function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => usageLine(c).length));
  return [
    'surety — an AI API gateway that bills honestly',
    '',
    'Usage: surety <command> [arguments] [--json]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${usageLine(c).padEnd(w)}  ${c.summary}`),
    '',
    'Amounts are USD decimal strings ("100.00"). --json prints one JSON document for scripts.',
    'Storage and settings come from the environment, as for the gateway: SURETY_DATA_DIR (SQLite,',
    'default ./data) or DATABASE_URL (PostgreSQL); see README.md.',
    "Run 'surety help <command>' or 'surety <command> --help' for a command's options.",
    '',
    'Exit status: 0 ok; 1 an error (printed as "error CODE: message"); 2 bad arguments or',
    'configuration; 3 `ledger verify` found a broken invariant, or `export verify` a damaged export.',
    '',
  ].join('\n');
}

/** Finds the command named by the leading words of argv; returns it and the remaining arguments. */
function resolve(argv: string[]): { command?: Command; rest: string[]; group?: Command[]; groupName?: string } {
  const [first, second] = argv;
  const single = COMMANDS.find((c) => c.name === first);
  if (single) return { command: single, rest: argv.slice(1) };
  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (group.length === 0) return { rest: argv };
  const sub = group.find((c) => c.name === `${first} ${second}`);
  if (sub) return { command: sub, rest: argv.slice(2) };
  return { rest: argv.slice(1), group, groupName: first };
}

/** Runs one CLI invocation and returns its exit status. Never calls process.exit. */
export async function runCli(argv: string[], io = new Io(argv.includes('--json'))): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    return report(e);
  }
}

async function dispatch(argv: string[], io: Io): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h') {
    process.stdout.write(mainHelp());
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    io.line(version());
    return 0;
  }
  if (first === 'help') {
    const topic = argv.slice(1).filter((a) => !a.startsWith('-'));
    if (topic.length === 0) {
      process.stdout.write(mainHelp());
      return 0;
    }
    return dispatch([...topic, '--help'], io);
  }

  const { command, rest, group, groupName } = resolve(argv);
  if (!command) {
    if (group && groupName) {
      const sub = rest[0];
      if (sub === undefined || sub === '--help' || sub === '-h') {
        process.stdout.write(groupHelp(groupName, group));
        return sub === undefined ? 2 : 0;
      }
      throw new UsageError(`unknown subcommand '${groupName} ${sub}'; one of: ${group.map((c) => c.name.split(' ')[1]).join(', ')}`, groupName);
    }
    throw new UsageError(`unknown command '${first}'`);
  }

  if (command.raw) return (await command.raw(rest)) ?? 0;

  const options: Record<string, OptionSpec> = { ...(command.options ?? {}), ...JSON_OPTION, help: HELP_OPTION };
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(Object.entries(options).map(([k, o]) => [k, o.short ? { type: o.type, short: o.short } : { type: o.type }])) as ParseArgsConfig['options'],
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message.split('. ')[0]!, command.name);
    throw e;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  const wanted = command.args ?? [];
  if (parsed.positionals.length < wanted.length) throw new UsageError(`missing <${wanted[parsed.positionals.length]}>`, command.name);
  if (parsed.positionals.length > wanted.length) throw new UsageError(`unexpected argument '${parsed.positionals[wanted.length]}'`, command.name);
  for (const [name, o] of Object.entries(options)) {
    if (o.type === 'string' && values[name] === '') throw new UsageError(`--${name} needs a value`, command.name);
  }
  return (await command.run!({ values, positionals: parsed.positionals, io })) ?? 0;
}

/** Prints an error the way every transport does — by its stable code — and picks the exit status. */
function report(e: unknown): number {
  const err = (s: string) => process.stderr.write(`${s}\n`);
  if (isAppError(e)) {
    err(`error ${e.code}: ${e.message}`);
    return 1;
  }
  if (e instanceof UsageError) {
    err(`error USAGE: ${e.message}`);
    err(e.command ? `Run 'surety ${e.command} --help' for its usage.` : "Run 'surety help' for the list of commands.");
    return 2;
  }
  if (e instanceof ConfigError) {
    err(`error CONFIG: ${e.message}`);
    return 2;
  }
  // System errors (a port in use, a refused connection) explain themselves; anything else is a bug.
  const sys = e as NodeJS.ErrnoException;
  err(`error INTERNAL: ${typeof sys?.code === 'string' && typeof sys.syscall === 'string' ? sys.message : (sys?.stack ?? String(e))}`);
  return 1;
}

/** Entry point for bin/surety.js, src/main.ts and `node src/cli/main.ts`. */
export async function main(argv: string[]): Promise<void> {
  // `surety … | head` closes the pipe early: stop quietly, as other command-line tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const code = await runCli(argv);
  // Long-running commands (start, sim) keep the process alive through their servers; the rest
  // end when storage is closed. The status is set, not forced, so pending output is flushed.
  process.exitCode = code;
}

if (import.meta.main) void main(process.argv.slice(2));
