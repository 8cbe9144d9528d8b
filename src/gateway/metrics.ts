import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.ts';

// Prometheus metrics of the data plane. Label sets are bounded: models and channels come from the
// catalog, outcomes from the fixed vocabulary; unknown model names are reported as "unknown".
// The per-request counters and histograms are fast-metrics.ts's (no label hashing per call);
// gauges and the process's default metrics are prom-client's own.

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: FastCounter;
  readonly latency: FastHistogram;
  readonly overhead: FastHistogram;
  readonly ttfb: FastHistogram;
  readonly tokens: FastCounter;
  readonly charged: FastCounter;
  readonly inFlight: Gauge<'endpoint'>;
  readonly attempts: FastCounter;
  readonly channelHealth: Gauge<'channel'>;
  readonly writerQueue: Gauge;
  /** Labelled children for the hot path (label values in the order of each metric's labelNames). */
  readonly requestsOf: (model: string, channel: string, outcome: string, endpoint: string) => { inc(v?: number): void };
  readonly latencyOf: (model: string, outcome: string) => { observe(v: number): void };
  readonly overheadOf: (endpoint: string) => { observe(v: number): void };
  readonly ttfbOf: (model: string) => { observe(v: number): void };
  readonly tokensOf: (model: string, kind: string) => { inc(v?: number): void };
  readonly chargedOf: (model: string) => { inc(v?: number): void };
  readonly attemptsOf: (channel: string, outcome: string) => { inc(v?: number): void };

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new FastCounter({ name: 'surety_requests_total', help: 'Requests by model, channel, endpoint and outcome', labelNames: ['model', 'channel', 'outcome', 'endpoint'], registers });
    this.latency = new FastHistogram({
      name: 'surety_request_duration_seconds',
      help: 'Total request duration',
      labelNames: ['model', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.overhead = new FastHistogram({
      name: 'surety_gateway_overhead_seconds',
      help: 'Time spent in the gateway itself (total minus time waiting for the upstream)',
      labelNames: ['endpoint'],
      buckets: [0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
      registers,
    });
    this.ttfb = new FastHistogram({ name: 'surety_time_to_first_byte_seconds', help: 'Time to the first upstream byte', labelNames: ['model'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.tokens = new FastCounter({ name: 'surety_tokens_total', help: 'Billable tokens by kind (input, cached_input, cache_write, output)', labelNames: ['model', 'kind'], registers });
    this.charged = new FastCounter({ name: 'surety_charged_nano_usd_total', help: 'Amount charged, nano-USD', labelNames: ['model'], registers });
    this.inFlight = new Gauge({ name: 'surety_in_flight_requests', help: 'Requests in flight', labelNames: ['endpoint'], registers });
    this.attempts = new FastCounter({ name: 'surety_upstream_attempts_total', help: 'Upstream attempts by channel and outcome', labelNames: ['channel', 'outcome'], registers });
    this.channelHealth = new Gauge({ name: 'surety_channel_up', help: '1 when the channel circuit is closed, 0.5 half-open, 0 open', labelNames: ['channel'], registers });
    this.writerQueue = new Gauge({ name: 'surety_log_writer_queue', help: 'Settled requests waiting to be written', registers });
    this.requestsOf = (model, channel, outcome, endpoint) => this.requests.of(model, channel, outcome, endpoint);
    this.latencyOf = (model, outcome) => this.latency.of(model, outcome);
    this.overheadOf = (endpoint) => this.overhead.of(endpoint);
    this.ttfbOf = (model) => this.ttfb.of(model);
    this.tokensOf = (model, kind) => this.tokens.of(model, kind);
    this.chargedOf = (model) => this.charged.of(model);
    this.attemptsOf = (channel, outcome) => this.attempts.of(channel, outcome);
  }
}
