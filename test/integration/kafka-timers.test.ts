import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { kafkaHealthPlugin } from '../../plugins/health-kafka/index.js';
import type { HealthCheck } from '../../core/types.js';
import { startKafkaMock, type KafkaMock } from '../helpers/kafka.js';
import { describeWithPeer, hasKcat } from '../helpers/peers.js';

// The kafka check's client (kafkajs) must arm no timer with a negative delay: Node 23 and later print a
// TimeoutNegativeWarning on the process's stderr for each, and Node 20 silently polls every 1 ms instead.
// Counted on the timers themselves, so this fails on every Node version when the check does it.

describeWithPeer('kcat', hasKcat, 'the kafka check (kafkajs timers)', () => {
  let kafka: KafkaMock;
  let check: HealthCheck<any>;
  beforeAll(async () => {
    kafka = await startKafkaMock();
    kafkaHealthPlugin().apply({ registerHealthCheck: (c: HealthCheck<any>) => (check = c) } as never);
  });
  afterAll(() => kafka?.stop());

  it('arms no timer with a negative delay', async () => {
    const real = globalThis.setTimeout;
    const negative: number[] = [];
    globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...rest: unknown[]) => {
      if (typeof ms === 'number' && ms < 0) negative.push(ms);
      return real(fn, ms, ...rest);
    }) as unknown as typeof setTimeout;
    try {
      for (let i = 0; i < 2; i++) {
        const r = await check.check({ host: kafka.host, port: kafka.port, timeout: 2, config: check.configSchema.parse({}), signal: new AbortController().signal } as never);
        expect(r.ok).toBe(true);
      }
    } finally {
      globalThis.setTimeout = real;
    }
    expect(negative).toEqual([]);
  });
});
