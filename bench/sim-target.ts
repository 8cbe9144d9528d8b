// The simulator in its own process, as the upstream of every target.
import { startSimulator } from '../src/sim/server.ts';

const sim = await startSimulator({ port: 0, quiet: true });
process.stdout.write(`${JSON.stringify({ url: sim.url })}\n`);
