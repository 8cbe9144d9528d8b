import { formatUsd } from '../../kernel/money.ts';
import { wholeCharge, type Candidate, type RowRule, type ScanRow, type RuleContext } from './types.ts';

const count = (d: Record<string, unknown> | null, k: string): number => {
  const v = d?.[k];
  return typeof v === 'number' ? v : 0;
};

function isImages(r: ScanRow, ctx: RuleContext): boolean {
  const kind = r.model === null ? null : ctx.model(r.model)?.kind;
  return kind === 'images' || r.endpoint.startsWith('images');
}

/**
 * A charge with nothing delivered: an image request without an image, or a text answer that is
 * empty with zero output tokens. It includes a refusal on content policy billed under a model
 * policy that bills refusals (`billed_on_moderation`), such as a Gemini image model answering
 * 200 with no image. Embeddings deliver vectors, not text: they are not judged here.
 */
export const billedNothingDelivered: RowRule = {
  name: 'billed_nothing_delivered',
  description: 'charged with nothing delivered: 0 images, or empty content with 0 output tokens (billed moderation refusals included)',
  on: 'rows',
  check(rows, ctx) {
    const out: Candidate[] = [];
    for (const r of rows) {
      if (r.amount <= 0n || r.endpoint === 'embeddings') continue;
      const images = count(r.delivered, 'images');
      const chars = count(r.delivered, 'text_chars');
      const refusal = r.outcome === 'upstream_moderation' ? ' the upstream refused on content policy (the model bills refusals) and' : '';
      let what: string | null = null;
      if (isImages(r, ctx)) {
        if (images === 0) what = 'no image was delivered';
      } else if (images === 0 && chars === 0 && (r.usage_billable?.output_tokens ?? 0) === 0) {
        what = 'the answer was empty with 0 output tokens';
      }
      if (what === null) continue;
      out.push(wholeCharge(this.name, r, `Charged $${formatUsd(r.amount)} although${refusal} ${what}.`, { delivered: { images, text_chars: chars }, output_tokens: r.usage_billable?.output_tokens ?? 0 }));
    }
    return out;
  },
};
