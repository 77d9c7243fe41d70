import { spawn } from 'node:child_process';
import { KCAT } from './peer-bins.js';

export interface KafkaMock {
  /** `host:port` of the mock broker (what it advertises). */
  broker: string;
  host: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * librdkafka's built-in mock cluster, a real Kafka-protocol broker, through kcat. It lives
 * while kcat's stdin is open; we stop it by PID.
 */
export async function startKafkaMock(): Promise<KafkaMock> {
  const child = spawn(KCAT!, ['-X', 'test.mock.num.brokers=1', '-b', 'dummy', '-P', '-t', 'keepalive'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let log = '';
  const broker = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kcat mock did not start within 5 s:\n${log}`)), 5000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      const m = /replaced with (\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].split(',')[0]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kcat exited ${code}:\n${log}`));
    });
  });
  child.stderr!.resume();
  const i = broker.lastIndexOf(':');
  return {
    broker,
    host: broker.slice(0, i),
    port: Number(broker.slice(i + 1)),
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
