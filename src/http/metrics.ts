import type { ProjectionRow } from '../projections/backend.js';

const BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

/** Counters kept by one HTTP app, rendered with the store's own figures in Prometheus text format. */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly durations = new Map<string, { buckets: number[]; sum: number; count: number }>();
  private appendedEvents = 0;

  request(route: string, method: string, status: number, seconds: number): void {
    const key = `route="${route}",method="${method}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const histogram = this.durations.get(route) ?? { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
    BUCKETS.forEach((le, i) => {
      if (seconds <= le) histogram.buckets[i]!++;
    });
    histogram.sum += seconds;
    histogram.count++;
    this.durations.set(route, histogram);
  }

  appended(count: number): void {
    this.appendedEvents += count;
  }

  render(head: bigint, projections: readonly ProjectionRow[]): string {
    const lines = [
      '# HELP factline_head_position Global position of the newest committed event.',
      '# TYPE factline_head_position gauge',
      `factline_head_position ${head}`,
      '# HELP factline_projection_checkpoint Position up to which a projection generation has applied the log.',
      '# TYPE factline_projection_checkpoint gauge',
      ...projections.map((p) => `factline_projection_checkpoint{${labels(p)}} ${p.checkpoint}`),
      '# HELP factline_projection_lag_events Events a projection generation has still to apply.',
      '# TYPE factline_projection_lag_events gauge',
      ...projections.map((p) => `factline_projection_lag_events{${labels(p)}} ${head > p.checkpoint ? head - p.checkpoint : 0n}`),
      '# HELP factline_projection_failed 1 while a projection generation is stopped by a failure.',
      '# TYPE factline_projection_failed gauge',
      ...projections.map((p) => `factline_projection_failed{${labels(p)}} ${p.error ? 1 : 0}`),
      '# HELP factline_http_appended_events_total Events appended through this HTTP API.',
      '# TYPE factline_http_appended_events_total counter',
      `factline_http_appended_events_total ${this.appendedEvents}`,
      '# HELP factline_http_requests_total HTTP requests answered, by route, method and status.',
      '# TYPE factline_http_requests_total counter',
      ...[...this.requests].map(([key, n]) => `factline_http_requests_total{${key}} ${n}`),
      '# HELP factline_http_request_duration_seconds Time to answer HTTP requests, by route.',
      '# TYPE factline_http_request_duration_seconds histogram',
      ...[...this.durations].flatMap(([route, h]) => [
        ...BUCKETS.map((le, i) => `factline_http_request_duration_seconds_bucket{route="${route}",le="${le}"} ${h.buckets[i]}`),
        `factline_http_request_duration_seconds_bucket{route="${route}",le="+Inf"} ${h.count}`,
        `factline_http_request_duration_seconds_sum{route="${route}"} ${h.sum}`,
        `factline_http_request_duration_seconds_count{route="${route}"} ${h.count}`,
      ]),
      '# HELP process_resident_memory_bytes Resident memory of this process.',
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
    ];
    return `${lines.join('\n')}\n`;
  }
}

const escape = (value: string) => value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
const labels = (p: ProjectionRow) => `projection="${escape(p.name)}",generation="${p.generation}"`;
