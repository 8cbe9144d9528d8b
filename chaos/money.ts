import type { Report } from './harness.ts';
export async function moneyScenario(_report: Report, _o: Record<string, unknown>): Promise<void> {
  throw new Error('not yet');
}
