// Every detection rule, one module each. Adding a rule is adding its module and one line here;
// its name is then a setting (enabled, auto-verified) like the others'.
import { billedAfterTimeout } from './billed-after-timeout.ts';
import { billedNothingDelivered } from './billed-nothing-delivered.ts';
import { billedOnFailure } from './billed-on-failure.ts';
import { doubleCharge } from './double-charge.ts';
import { implausibleUsage } from './implausible-usage.ts';
import { offPrice } from './off-price.ts';
import { staleHold } from './stale-hold.ts';
import type { Rule } from './types.ts';

export const RULES: readonly Rule[] = [billedOnFailure, billedAfterTimeout, billedNothingDelivered, doubleCharge, offPrice, staleHold, implausibleUsage];

/** Findings of customer disputes that no rule matched (not a rule: an operator judges them). */
export const CUSTOMER_DISPUTE = 'customer_dispute';

export const RULE_NAMES = RULES.map((r) => r.name);
export const FINDING_RULES: [string, ...string[]] = [CUSTOMER_DISPUTE, ...RULE_NAMES];
