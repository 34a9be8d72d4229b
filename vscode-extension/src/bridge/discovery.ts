// Finding luvit programs that serve the debugger: the `/json/list` endpoint a
// `luvit --inspect` port answers (as node's does), one target per program. Used to attach by
// port, by the attach picker (no port or URL given), and to wait for a program started in
// the editor's terminal.

import * as http from 'http';

/** One debuggable program, as /json/list describes it. */
export interface Target {
  /** The program's websocket URL (ws://HOST:PORT/ID). */
  url: string;
  /** The program's main script (the runtime puts its path here). */
  title: string;
  host: string;
  port: number;
}

/** GET http://host:port/json/list: the targets it lists. Rejects with a clear message when
 *  nobody answers, the answer is not a target list, or no answer comes within `ms`. */
export function listTargets(host: string, port: number, ms: number): Promise<Target[]> {
  const where = `http://${host.includes(':') ? `[${host}]` : host}:${port}/json/list`;
  return new Promise<Target[]>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, list?: Target[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(list!);
    };
    const req = http.get({ host, port, path: '/json/list', timeout: ms }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        if (text.length > 1 << 20) req.destroy(new Error(`${where} answered more than 1 MB`));
      });
      res.on('end', () => {
        let list: unknown;
        try {
          list = JSON.parse(text);
        } catch {
          finish(new Error(`${where} did not answer JSON (is it a luvit --inspect port?)`));
          return;
        }
        if (!Array.isArray(list)) {
          finish(new Error(`${where} did not answer a list (is it a luvit --inspect port?)`));
          return;
        }
        const targets: Target[] = [];
        for (const t of list) {
          if (t && typeof t.webSocketDebuggerUrl === 'string' && /^wss?:\/\//.test(t.webSocketDebuggerUrl)) {
            targets.push({ url: t.webSocketDebuggerUrl, title: typeof t.title === 'string' ? t.title : '', host, port });
          }
        }
        finish(undefined, targets);
      });
      res.on('error', (e) => finish(new Error(`${where}: ${e.message}`)));
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(new Error(`no answer from ${where} (within ${ms / 1000} s)`));
    }, ms);
    req.on('error', (e) => finish(new Error(`cannot reach the debugger at ${host}:${port}: ${e.message}`)));
  });
}

/** The first program's websocket URL at host:port (attach by port). */
export async function findWebSocketUrl(host: string, port: number, ms = 5000): Promise<string> {
  const list = await listTargets(host, port, ms);
  if (!list.length) throw new Error(`http://${host}:${port}/json/list lists no debuggable program`);
  return list[0].url;
}

/** Every program found on `ports` of `host`; ports where nothing answers are skipped. The
 *  ports are asked in parallel, each within `ms`. */
export async function discoverPrograms(host: string, ports: number[], ms = 1500): Promise<Target[]> {
  const unique = [...new Set(ports)];
  const found = await Promise.all(unique.map((p) => listTargets(host, p, ms).catch(() => [] as Target[])));
  const seen = new Set<string>();
  return found.flat().filter((t) => !seen.has(t.url) && (seen.add(t.url), true));
}

/** Asks host:port/json/list every `every` ms until it lists a program, `gone()` says the
 *  program ended, or `ms` pass; the program's websocket URL. */
export async function waitForProgram(
  host: string,
  port: number,
  ms: number,
  gone: () => string | undefined,
  every = 100,
): Promise<string> {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    const why = gone();
    if (why) throw new Error(why);
    try {
      const list = await listTargets(host, port, Math.max(200, Math.min(1000, deadline - Date.now())));
      if (list.length) return list[0].url;
      last = 'it lists no program yet';
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new Error(`the program did not start its debugger on ${host}:${port} within ${ms / 1000} s (${last})`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Parses a list of ports (numbers or numeric strings); throws naming the bad entry. */
export function portList(value: unknown, what: string): number[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`"${what}" must be a list of port numbers`);
  return value.map((v) => {
    const n = typeof v === 'string' && v.trim() ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0 || n > 65535) {
      throw new Error(`"${what}" must be a list of port numbers, got ${JSON.stringify(v)}`);
    }
    return n;
  });
}
