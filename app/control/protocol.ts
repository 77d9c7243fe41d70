import { z } from 'zod';

/** One JSON object per line, both ways. A line longer than this is refused and the connection closed. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const selection = z.strictObject({
  names: z.array(z.string().max(200)).max(1000).default([]),
  tags: z.array(z.string().max(200)).max(100).default([]),
  all: z.boolean().default(false),
});

export const requestSchema = z.discriminatedUnion('method', [
  z.strictObject({ id: z.number().int(), method: z.literal('ping') }),
  z.strictObject({ id: z.number().int(), method: z.literal('status'), params: z.strictObject({ names: z.array(z.string()).default([]) }).default({ names: [] }) }),
  z.strictObject({ id: z.number().int(), method: z.literal('start'), params: selection }),
  z.strictObject({ id: z.number().int(), method: z.literal('restart'), params: selection }),
  z.strictObject({ id: z.number().int(), method: z.literal('stop'), params: selection.extend({ force: z.boolean().default(false) }) }),
  z.strictObject({ id: z.number().int(), method: z.literal('reload') }),
  z.strictObject({ id: z.number().int(), method: z.literal('shutdown') }),
  // The connection stays open: after the reply, one event per line (app/events.ts) until either side closes it.
  z.strictObject({ id: z.number().int(), method: z.literal('subscribe'), params: z.strictObject({ names: z.array(z.string().max(200)).max(1000).default([]) }).default({ names: [] }) }),
  // The daemon's loopback HTTP server: started if it is not running (on `port`, else the config's, else
  // one the kernel picks); the reply says where, with the token (daemon/ui.ts).
  z.strictObject({ id: z.number().int(), method: z.literal('ui'), params: z.strictObject({ port: z.number().int().min(1).max(65535).optional(), open: z.boolean().optional() }).default({}) }),
]);

export type Request = z.output<typeof requestSchema>;
export type Method = Request['method'];

export interface ErrorBody {
  code: string;
  message: string;
  hint?: string;
  exitCode?: number;
}

export type Response = { id: number | null; ok: true; result: unknown } | { id: number | null; ok: false; error: ErrorBody };

/** The reply to `ui`: where the daemon's HTTP server listens, and the URL to open (with its token). */
export interface UiInfo {
  /** `http://127.0.0.1:PORT/?token=…` */
  url: string;
  port: number;
  /** The addresses it listens on, as shown: `127.0.0.1:7070`, `[::1]:7070`. */
  listen: string[];
  token: string;
  /** This request started it. */
  started: boolean;
  /** With `open`: a one-time URL for a browser opener, whose command line other users can read (daemon/ui.ts oneTimeUrl). */
  openUrl?: string;
}
