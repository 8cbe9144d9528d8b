// Several instances of one gateway: the composition of what they share. Always: the instance
// registry (storage) and job leases (storage). With REDIS_URL: quotas (holds, rate windows,
// concurrency, key spend) and throttle counts in Redis, each instance's liveness in Redis, and the
// reaper that takes a dead instance's shares out. docs/scale-out.md explains the design.

import type { Config } from '../kernel/config/schema.ts';
import type { RuntimeHandle } from '../runtime.ts';
import { RedisFailureLog } from './failure-log.ts';
import { leaseClaim, releaseLeases } from './leases.ts';
import { ClusterQuotas } from './quotas.ts';
import { RedisLink, script } from './redis.ts';
import { InstanceRegistry, newInstanceId } from './registry.ts';
import { REAP } from './scripts.ts';

const S = { reap: script(REAP) };

export interface Cluster {
  id: string;
  registry: InstanceRegistry;
  link: RedisLink | null;
  quotas: ClusterQuotas | null;
  /** Why this instance must not take requests now (Redis away), or null. */
  problem(): string | null;
  /** What an operator must know (several instances without shared quotas). */
  warnings(): string[];
  /** Signs in with the URL it serves on. */
  start(url: string): Promise<void>;
  close(): Promise<void>;
}

export async function createCluster(rt: RuntimeHandle, config: Config, opts: { id?: string } = {}): Promise<Cluster> {
  const id = opts.id ?? newInstanceId();
  const ttlMs = config.instanceTtlSeconds * 1000;
  const registry = new InstanceRegistry(rt, { id, shared: config.redisUrl !== undefined, ttlMs });
  rt.jobs.claim = leaseClaim(rt.db, id, rt.now);
  const beatMs = Math.max(200, Math.floor(ttlMs / 5));
  let link: RedisLink | null = null;
  let quotas: ClusterQuotas | null = null;
  if (config.redisUrl) {
    link = new RedisLink(config.redisUrl, config.redisPrefix, rt.log);
    quotas = new ClusterQuotas(rt, link, id);
    rt.failures = new RedisFailureLog(link);
    const l = link;
    const q = quotas;
    const alive = () => l.redis.multi().set(l.key('inst', id), String(Date.now()), 'PX', ttlMs).sadd(l.key('insts'), id).exec();
    l.whenReady(async ({ lost, created }) => {
      await alive();
      if (lost && created) {
        // Redis came back empty while other instances run: nobody is admitted until they have all
        // had the time to write their holds back (they reconnect within a second; the TTL bounds it).
        const others = (await registry.live()).filter((i) => i.shared && i.id !== id);
        if (others.length > 0) {
          await l.redis.set(l.key('fence'), id, 'PX', ttlMs, 'NX');
          rt.log.warn({ instances: others.length, fence_ms: ttlMs }, 'Redis lost its data: shared quotas are restored before requests are admitted again');
        }
      }
      // Slices lived in the data Redis lost: only what requests use is written back.
      if (lost) q.allow.dropUnused();
      await q.sync(lost);
    });
    rt.jobs.register({
      name: 'instance-heartbeat',
      intervalMs: beatMs,
      each: true,
      run: async () => {
        await registry.beat();
        if (!l.ready) return;
        await alive();
        await q.sync(false);
        const unused = q.shares.unused();
        if (unused.length > 0) await l.redis.srem(q.instKeys, ...unused);
      },
    });
    rt.jobs.register({ name: 'reap-instances', intervalMs: beatMs, run: () => reap(l, id) });
    await l.connect();
  } else {
    rt.jobs.register({ name: 'instance-heartbeat', intervalMs: beatMs, each: true, run: () => registry.beat() });
  }
  return {
    id,
    registry,
    link,
    quotas,
    problem: () => link?.problem() ?? null,
    warnings: () => (registry.warning ? [registry.warning] : []),
    start: (url) => registry.register(url),
    async close() {
      quotas?.allow.close();
      await releaseLeases(rt.db, id).catch(() => {});
      await registry.stop().catch(() => {});
      if (link?.ready) {
        // A clean stop leaves no share behind: no liveness, then reaped by itself.
        await link.redis.del(link.key('inst', id)).catch(() => {});
        await reap(link, id, true).catch(() => {});
      }
      await link?.close();
    },
  };
}

/** Takes the shares of instances whose liveness ran out (or this one's own, on a clean stop). */
async function reap(link: RedisLink, me: string, self = false): Promise<number> {
  const ids = self ? [me] : (await link.redis.smembers(link.key('insts'))).filter((i) => i !== me);
  let reaped = 0;
  for (const i of ids) {
    const n = Number(await link.run(S.reap, [link.key('insts'), link.key('inst', i), link.key('inst', i, 'keys')], [i]));
    if (n > 0) reaped++;
  }
  return reaped;
}
