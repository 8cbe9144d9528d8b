// A Redis key prefix of its own for one group of tests (SURETY_TEST_REDIS_URL).
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import pino from 'pino';
import { RedisLink } from '../../src/cluster/redis.ts';

export const REDIS_URL = process.env.SURETY_TEST_REDIS_URL || '';

/**
 * A RedisLink under a key prefix of its own for the tests of one `describe` (connected before them;
 * its keys deleted and the link closed after them). Read `.link` inside the tests.
 */
export function prefixedRedis(tag: string): { link: RedisLink } {
  const box = {} as { link: RedisLink };
  let prefix = '';
  before(async () => {
    prefix = `${tag}${randomBytes(4).toString('hex')}:`;
    box.link = new RedisLink(REDIS_URL, prefix, pino({ level: 'silent' }));
    await box.link.connect();
  });
  after(async () => {
    const keys = await box.link.redis.keys(`${prefix}*`);
    if (keys.length) await box.link.redis.del(...keys);
    await box.link.close();
  });
  return box;
}
