import type { ComponentChildren } from 'preact';
import { Overview } from './pages/overview.tsx';
import { Usage } from './pages/usage.tsx';
import { LogsPage, OperatorLogs } from './pages/logs.tsx';
import { Keys } from './pages/keys.tsx';
import { Members } from './pages/members.tsx';
import { Billing, Credits, Transfers } from './pages/billing.tsx';
import { AccountDetail, Accounts, Dashboard } from './pages/operator.tsx';
import { Audit, Channels, LedgerVerify, Models, Operators, Queues, Redemption } from './pages/op-pages.tsx';
import { CustomerFindings, Incidents, OperatorFindings } from './pages/guarantees.tsx';
import { Contracts, CustomerSla, StatusOverrides } from './pages/sla.tsx';

// The navigation of each kind of session and the page of each path.

export interface NavItem {
  path: string;
  label: string;
  section?: boolean;
  external?: boolean;
}

export const CUSTOMER_NAV: NavItem[] = [
  { path: '/overview', label: 'Overview' },
  { path: '/usage', label: 'Usage' },
  { path: '/logs', label: 'Request log' },
  { path: '/keys', label: 'API keys' },
  { path: '/members', label: 'Members' },
  { path: '/billing', label: 'Billing' },
  { path: '/transfers', label: 'Bank transfers' },
  { path: '', label: 'Guarantees', section: true },
  { path: '/credits', label: 'Credits and compensation' },
  { path: '/findings', label: 'Abnormal charges' },
  { path: '/sla', label: 'SLA reports' },
  { path: '/status', label: 'Status page', external: true },
];

export const OPERATOR_NAV: NavItem[] = [
  { path: '/op/dashboard', label: 'Dashboard' },
  { path: '/op/accounts', label: 'Accounts' },
  { path: '/op/queues', label: 'Queues' },
  { path: '/op/redemption', label: 'Redemption codes' },
  { path: '/op/channels', label: 'Channels' },
  { path: '/op/models', label: 'Models and prices' },
  { path: '/op/usage', label: 'Usage' },
  { path: '/op/logs', label: 'All logs' },
  { path: '/op/audit', label: 'Audit log' },
  { path: '/op/ledger', label: 'Ledger verification' },
  { path: '/op/operators', label: 'Operators' },
  { path: '', label: 'Guarantees', section: true },
  { path: '/op/findings', label: 'Findings' },
  { path: '/op/incidents', label: 'Incidents' },
  { path: '/op/contracts', label: 'SLA contracts' },
  { path: '/op/status', label: 'Status overrides' },
];

export function routeFor(kind: 'customer' | 'operator', path: string): ComponentChildren | null {
  if (kind === 'operator') {
    const acct = /^\/op\/accounts\/([^/]+)$/.exec(path);
    if (acct) return <AccountDetail id={decodeURIComponent(acct[1]!)} />;
    switch (path) {
      case '/op/dashboard': return <Dashboard />;
      case '/op/accounts': return <Accounts />;
      case '/op/queues': return <Queues />;
      case '/op/redemption': return <Redemption />;
      case '/op/channels': return <Channels />;
      case '/op/models': return <Models />;
      case '/op/usage': return <Usage base="/admin/v1" />;
      case '/op/logs': return <OperatorLogs />;
      case '/op/audit': return <Audit />;
      case '/op/ledger': return <LedgerVerify />;
      case '/op/operators': return <Operators />;
      case '/op/findings': return <OperatorFindings />;
      case '/op/incidents': return <Incidents />;
      case '/op/contracts': return <Contracts />;
      case '/op/status': return <StatusOverrides />;
    }
    return null;
  }
  switch (path) {
    case '/overview': return <Overview />;
    case '/usage': return <Usage />;
    case '/logs': return <LogsPage />;
    case '/keys': return <Keys />;
    case '/members': return <Members />;
    case '/billing': return <Billing />;
    case '/transfers': return <Transfers />;
    case '/credits': return <Credits />;
    case '/findings': return <CustomerFindings />;
    case '/sla': return <CustomerSla />;
  }
  return null;
}
