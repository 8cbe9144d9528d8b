import { createAccount } from './accounts/accounts.ts';
import { createKey } from './accounts/keys.ts';
import { recordTopup } from './billing/topups.ts';
import { withActor, type Runtime } from './services/context.ts';

export interface DemoInfo {
  accountId: string;
  customerKey: string;
}

export async function isEmptyDatabase(rt: Runtime): Promise<boolean> {
  const r = await rt.db.get<{ n: bigint }>('SELECT COUNT(*) AS n FROM accounts');
  return Number(r?.n ?? 0) === 0;
}

/** A demo customer with a funded balance and a key, created on an empty database. */
export async function bootstrapDemoAccount(rt: Runtime): Promise<DemoInfo> {
  const ctx = withActor(rt, { type: 'system', id: 'demo' });
  const account = await createAccount({ ...ctx, actor: { type: 'operator', id: 'demo' } }, { name: 'Demo Customer', kind: 'individual', email: 'demo@example.com' });
  await recordTopup({ ...ctx, actor: { type: 'operator', id: 'demo' } }, account.id, { amount: '25.00', method: 'other', reference: 'demo credit', bonus: '5.00', note: 'created by the demo bootstrap' }, 'demo-bootstrap');
  const { secret } = await createKey({ ...ctx, actor: { type: 'operator', id: 'demo' } }, account.id, { name: 'demo key' });
  return { accountId: account.id, customerKey: secret };
}
