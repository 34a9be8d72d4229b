// The bridge between an editor speaking DAP (VS Code through the inline adapter, or any
// client of out/adapter.js over stdio) and a luvit program's own debugger session, which
// speaks DAP over a websocket. It answers `initialize` itself, starts or finds the program on
// `launch`/`attach`, replays the editor's `initialize` to the program, and relays everything
// from then on. No `vscode` import here: this runs outside VS Code too.

import { spawn, ChildProcess } from 'child_process';
import WebSocket from 'ws';
import { parseListeningLine, LineSplitter } from './listening';
import { discoverPrograms, findWebSocketUrl, portList, waitForProgram } from './discovery';
import { freePort, findExecutable, terminalPidGone } from './terminal';

type Json = { [key: string]: any };

/** How long each wait may take before it becomes an error message in the editor. */
export const TIMEOUTS = {
  listening: 10000, // the launched program prints its "Debugger listening" line
  connect: 5000, // websocket open + the program's initialize handshake
  jsonList: 5000, // GET /json/list when attaching by port
  discover: 1500, // each port the attach picker asks
  terminal: 10000, // the editor answers runInTerminal
  disconnect: 2000, // the program answers disconnect
  exit: 2000, // a launched program ends after disconnect before it is killed
  flush: 1000, // pipes drain before `terminated` goes out
};

/** What the editor learns before a program exists; the program's own list follows in a
 *  `capabilities` event once connected. */
export const CAPABILITIES = {
  supportsConfigurationDoneRequest: true,
  supportsConditionalBreakpoints: true,
  supportsFunctionBreakpoints: true,
  supportsHitConditionalBreakpoints: true,
  supportsLogPoints: true,
  supportsEvaluateForHovers: true,
  supportsSetVariable: true,
  supportsCompletionsRequest: true,
  completionTriggerCharacters: ['.', ':'],
  supportsExceptionInfoRequest: true,
  supportsTerminateRequest: true,
  supportsLoadedSourcesRequest: true,
  supportTerminateDebuggee: true,
  supportsDelayedStackTraceLoading: true,
  exceptionBreakpointFilters: [
    { filter: 'uncaught', label: 'Uncaught Errors', default: true },
    { filter: 'all', label: 'All Errors', description: 'also errors caught by pcall and xpcall', default: false },
  ],
};

export interface BridgeOptions {
  /** Used when a launch configuration names no runtimeExecutable. */
  runtimeExecutable?: string;
  /** Where the hint in "not found" errors points (the VS Code setting, or the launch key). */
  runtimeHint?: string;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} (no answer within ${ms / 1000} s)`)), ms);
    p.then(
      (v) => { clearTimeout(t); resolve(v); },
      (e) => { clearTimeout(t); reject(e); },
    );
  });
}

export class Bridge {
  private seq = 1;
  private initializeArgs: Json = { adapterID: 'luvit' };
  private initializeSeq = 1;
  private ws: WebSocket | undefined;
  private child: ChildProcess | undefined;
  private childExit: Promise<void> | undefined;
  private pipesDone: Promise<void> = Promise.resolve();
  private launched = false;
  private terminatedSent = false;
  private exitedSent = false;
  private ended = false;
  private pending = new Map<number, (msg: Json) => void>();
  /** Our own requests to the editor (runInTerminal), by seq. */
  private reverse = new Map<number, (msg: Json) => void>();
  /** The program the editor started in its terminal, when it told us its process id. */
  private terminalPid: number | undefined;

  /** `send` gets every message for the editor; `onEnd` runs once the session is over
   *  (after the disconnect response, or when the editor should let go). */
  constructor(
    private readonly send: (msg: Json) => void,
    private readonly options: BridgeOptions = {},
    private readonly onEnd: () => void = () => {},
  ) {}

  // ---- to the editor -------------------------------------------------------------------

  private emit(msg: Json) {
    if (this.ended) return;
    msg.seq = this.seq++;
    this.send(msg);
  }

  private respond(req: Json, body?: Json) {
    this.emit({ type: 'response', request_seq: req.seq, command: req.command, success: true, body });
  }

  private fail(req: Json, message: string) {
    this.emit({
      type: 'response', request_seq: req.seq, command: req.command, success: false, message,
      body: { error: { id: 1, format: message, showUser: true } },
    });
  }

  private event(event: string, body?: Json) {
    this.emit({ type: 'event', event, body });
  }

  private output(category: string, output: string) {
    if (output) this.event('output', { category, output });
  }

  // ---- from the editor -----------------------------------------------------------------

  /** One message from the editor. */
  handle(msg: Json): void {
    if (this.ended) return;
    if (msg && msg.type === 'response' && typeof msg.request_seq === 'number') {
      // The editor answering one of our reverse requests; nothing else is ours to answer.
      const waiter = this.reverse.get(msg.request_seq);
      if (waiter) {
        this.reverse.delete(msg.request_seq);
        waiter(msg);
      }
      return;
    }
    if (!msg || msg.type !== 'request' || typeof msg.command !== 'string') {
      this.emit({
        type: 'response', request_seq: (msg && msg.seq) || 0, command: (msg && msg.command) || '',
        success: false, message: 'not a DAP request',
      });
      return;
    }
    if (this.ws) {
      this.relayToProgram(msg);
      return;
    }
    switch (msg.command) {
      case 'initialize':
        this.initializeArgs = msg.arguments || {};
        this.initializeSeq = msg.seq;
        this.respond(msg, CAPABILITIES);
        break;
      case 'launch':
        this.launch(msg).catch((e) => this.fail(msg, errorText(e)));
        break;
      case 'attach':
        this.attach(msg).catch((e) => this.fail(msg, errorText(e)));
        break;
      case 'disconnect':
      case 'terminate':
        this.killChild();
        this.respond(msg);
        this.end();
        break;
      default:
        this.fail(msg, `'${msg.command}' needs a program: send launch or attach first`);
    }
  }

  /** The editor went away without disconnecting. */
  dispose(): void {
    this.killChild();
    this.end();
  }

  private end() {
    if (this.ended) return;
    this.ended = true;
    if (this.ws) {
      this.ws.removeAllListeners();
      this.ws.on('error', () => {});
      this.ws.terminate();
    }
    this.onEnd();
  }

  /** Ends a launched program now (for an adapter process that is itself ending). */
  killProgram(): void {
    this.killChild();
  }

  private killChild() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    if (this.terminalPid !== undefined && !terminalPidGone(this.terminalPid)) {
      try {
        process.kill(this.terminalPid, 'SIGKILL');
      } catch {
        // already gone, or not ours to end
      }
    }
  }

  /** Sends the editor a request and waits for its response. */
  private reverseRequest(command: string, args: Json, ms: number): Promise<Json> {
    const seq = this.seq;
    const answered = new Promise<Json>((resolve) => this.reverse.set(seq, resolve));
    this.emit({ type: 'request', command, arguments: args });
    return withTimeout(answered, ms, `the editor did not answer ${command}`).finally(() => this.reverse.delete(seq));
  }

  // ---- relay ---------------------------------------------------------------------------

  private relayToProgram(msg: Json) {
    const ws = this.ws!;
    if (ws.readyState !== WebSocket.OPEN) {
      if (msg.command === 'disconnect' || msg.command === 'terminate') {
        this.respond(msg);
        if (msg.command === 'disconnect') this.finishDisconnect();
      } else {
        this.fail(msg, 'the program has ended');
      }
      return;
    }
    if (msg.command === 'disconnect') {
      const args = { ...(msg.arguments || {}) };
      // A launched program ends with the session; an attached one keeps running.
      if (args.terminateDebuggee === undefined) args.terminateDebuggee = this.launched;
      const answered = new Promise<Json>((resolve) => this.pending.set(msg.seq, resolve));
      ws.send(JSON.stringify({ ...msg, arguments: args }));
      withTimeout(answered, TIMEOUTS.disconnect, 'disconnect')
        .catch(() => this.respond(msg))
        .finally(() => this.finishDisconnect());
      return;
    }
    ws.send(JSON.stringify(msg));
  }

  private async finishDisconnect() {
    if (this.child && this.childExit) {
      await withTimeout(this.childExit, TIMEOUTS.exit, 'exit').catch(() => this.killChild());
    }
    const pid = this.terminalPid;
    if (pid !== undefined && this.launched) {
      // The program ends itself on disconnect; give it the same grace as a child.
      const deadline = Date.now() + TIMEOUTS.exit;
      while (!terminalPidGone(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      this.killChild();
    }
    this.end();
  }

  private fromProgram(text: string) {
    let msg: Json;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.type === 'response') {
      const waiter = this.pending.get(msg.request_seq);
      if (waiter) {
        this.pending.delete(msg.request_seq);
        this.emit(msg);
        waiter(msg);
        return;
      }
    }
    if (msg.type === 'event' && (msg.event === 'terminated' || msg.event === 'exited')) {
      // Let the program's last output (still in the pipes) go out first.
      this.flushed().then(() => {
        if (msg.event === 'terminated') {
          if (this.terminatedSent) return;
          this.terminatedSent = true;
        } else {
          if (this.exitedSent) return;
          this.exitedSent = true;
        }
        this.emit(msg);
      });
      return;
    }
    this.emit(msg);
  }

  /** The launched program's pipes have drained (or a while has passed: a grandchild may hold
   *  them open). */
  private flushed(): Promise<void> {
    return withTimeout(this.pipesDone, TIMEOUTS.flush, 'flush').catch(() => {});
  }

  private programGone() {
    this.flushed().then(async () => {
      if (!this.exitedSent && this.child && this.childExit) {
        await withTimeout(this.childExit, TIMEOUTS.flush, 'exit').catch(() => {});
        if (!this.exitedSent && this.child.exitCode !== null) {
          this.exitedSent = true;
          this.event('exited', { exitCode: this.child.exitCode });
        }
      }
      if (!this.terminatedSent) {
        this.terminatedSent = true;
        this.event('terminated');
      }
    });
  }

  // ---- connecting ----------------------------------------------------------------------

  /** Opens the program's websocket and runs its initialize handshake; resolves with the
   *  program's capabilities. */
  private connect(url: string): Promise<Json> {
    return withTimeout(
      new Promise<Json>((resolve, reject) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        let caps: Json | undefined;
        let initialized = false;
        let done = false;
        const early = (text: string) => {
          let msg: Json;
          try {
            msg = JSON.parse(text);
          } catch {
            return;
          }
          if (msg.type === 'response' && msg.command === 'initialize') {
            if (!msg.success) {
              reject(new Error(`the program refused initialize: ${msg.message}`));
              return;
            }
            caps = msg.body || {};
          } else if (msg.type === 'event' && msg.event === 'initialized') {
            initialized = true;
          } else {
            this.fromProgram(text);
          }
          if (caps && initialized && !done) {
            done = true;
            ws.off('message', onMessage);
            ws.on('message', (data) => this.fromProgram(data.toString()));
            this.ws = ws;
            resolve(caps);
          }
        };
        const onMessage = (data: WebSocket.RawData) => early(data.toString());
        ws.on('message', onMessage);
        ws.on('open', () => {
          ws.send(JSON.stringify({
            seq: this.initializeSeq, type: 'request', command: 'initialize', arguments: this.initializeArgs,
          }));
        });
        ws.on('error', (e) => {
          if (!done) reject(new Error(`cannot connect to ${url}: ${e.message}`));
        });
        ws.on('close', () => {
          if (!done) reject(new Error(`${url} closed during the handshake`));
          else this.programGone();
        });
      }),
      TIMEOUTS.connect,
      `no debugger handshake from ${url}`,
    );
  }

  private async finishStart(req: Json, url: string) {
    const caps = await this.connect(url);
    this.event('capabilities', { capabilities: caps });
    this.respond(req);
    this.event('initialized');
  }

  // ---- attach --------------------------------------------------------------------------

  private async attach(req: Json) {
    const a: Json = req.arguments || {};
    let url: string;
    if (typeof a.url === 'string' && a.url) {
      if (!/^wss?:\/\//.test(a.url)) throw new Error(`"url" must be a ws:// URL, got ${a.url}`);
      url = a.url;
    } else if (a.port === undefined || a.port === null || a.port === '') {
      url = await this.pickProgram(a);
    } else {
      const host = typeof a.host === 'string' && a.host ? a.host : '127.0.0.1';
      const port = Number(a.port);
      if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`"port" must be a port number, got ${a.port}`);
      url = await findWebSocketUrl(host, port, TIMEOUTS.jsonList);
    }
    this.launched = false;
    await this.finishStart(req, url);
  }

  /** Attach with neither "port" nor "url": the one program serving the debugger on the
   *  ports to scan ("attachPorts", default 9229), or an error listing what is there. */
  private async pickProgram(a: Json): Promise<string> {
    const host = typeof a.host === 'string' && a.host ? a.host : '127.0.0.1';
    const given = portList(a.attachPorts, 'attachPorts');
    const ports = given.length ? given : [9229];
    const found = await discoverPrograms(host, ports, TIMEOUTS.discover);
    if (found.length === 1) {
      this.output('console', `luvit: attaching to ${found[0].title || 'a program'} (${found[0].url})\n`);
      return found[0].url;
    }
    const where = `${host} port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}`;
    if (!found.length) {
      throw new Error(`no luvit --inspect program found on ${where}: start one with 'luvit --inspect app.lua', or set "port" or "url"`);
    }
    throw new Error(`${found.length} luvit programs serve the debugger on ${where}; set "url" to one of them:\n` +
      found.map((t) => `  ${t.url}  ${t.title}`).join('\n'));
  }

  // ---- launch --------------------------------------------------------------------------

  private async launch(req: Json) {
    const a: Json = req.arguments || {};
    if (typeof a.program !== 'string' || !a.program) throw new Error('launch needs "program": the .lua file to run');
    const exe: string =
      (typeof a.runtimeExecutable === 'string' && a.runtimeExecutable) || this.options.runtimeExecutable || 'luvit';
    const inspectFlag = a.stopOnEntry ? '--inspect-brk' : '--inspect-wait';
    const runtimeArgs: string[] = Array.isArray(a.runtimeArgs) ? a.runtimeArgs.map(String) : [];
    const programArgs: string[] = Array.isArray(a.args) ? a.args.map(String) : [];
    const argv: string[] = [...runtimeArgs, `${inspectFlag}=127.0.0.1:0`, a.program, ...programArgs];
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (a.env && typeof a.env === 'object') {
      for (const [k, v] of Object.entries(a.env)) {
        if (v === null) delete env[k];
        else env[k] = String(v);
      }
    }
    // The runtime leaves relaying its stdout/stderr to us (we read the pipes).
    env.LUVIT_DAP_ADAPTER = '1';
    const hint = this.options.runtimeHint || 'set "runtimeExecutable" in the launch configuration';

    const consoleKind = a.console === undefined || a.console === null ? 'internalConsole' : a.console;
    if (!['internalConsole', 'integratedTerminal', 'externalTerminal'].includes(consoleKind)) {
      throw new Error(`"console" must be "internalConsole", "integratedTerminal" or "externalTerminal", got ${JSON.stringify(a.console)}`);
    }
    if (consoleKind !== 'internalConsole') {
      if (this.initializeArgs.supportsRunInTerminalRequest) {
        const cwd = typeof a.cwd === 'string' && a.cwd ? a.cwd : process.cwd();
        const file = findExecutable(exe, cwd, env);
        if (!file) throw new Error(`cannot start the luvit runtime: '${exe}' was not found (${hint})`);
        const envDelta: Json = { ...(a.env && typeof a.env === 'object' ? a.env : {}), LUVIT_DAP_ADAPTER: '1' };
        await this.launchInTerminal(req, {
          kind: consoleKind === 'externalTerminal' ? 'external' : 'integrated',
          title: `luvit ${a.program.split(/[\\/]/).pop()}`,
          cwd,
          env: envDelta,
          command: [file, ...runtimeArgs],
          inspectFlag,
          rest: [a.program, ...programArgs],
        });
        return;
      }
      this.output('console', `luvit: this editor cannot run programs in a terminal (no supportsRunInTerminalRequest); the output goes here\n`);
    }

    const child = spawn(exe, argv, {
      cwd: typeof a.cwd === 'string' && a.cwd ? a.cwd : undefined,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.launched = true;
    this.childExit = new Promise((resolve) => child.once('close', () => resolve()));

    const url = await new Promise<string>((resolve, reject) => {
      const lines = new LineSplitter();
      let stderr = '';
      let found = false;
      const timer = setTimeout(() => {
        if (found) return;
        this.killChild();
        reject(new Error(`'${a.program}' did not start its debugger within ${TIMEOUTS.listening / 1000} s` +
          (stderr ? `; its stderr:\n${stderr}` : '')));
      }, TIMEOUTS.listening);
      const stdoutDone = new Promise<void>((r) => child.stdout!.once('end', r));
      const stderrDone = new Promise<void>((r) => child.stderr!.once('end', r));
      this.pipesDone = Promise.all([stdoutDone, stderrDone]).then(() => {});
      child.stdout!.setEncoding('utf8');
      child.stderr!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => this.output('stdout', d));
      child.stderr!.on('data', (d: string) => {
        if (found) {
          this.output('stderr', d);
          return;
        }
        for (const line of lines.push(d)) {
          const u = found ? undefined : parseListeningLine(line);
          if (u) {
            found = true;
            clearTimeout(timer);
            resolve(u);
          } else {
            stderr += line;
            this.output('stderr', line);
          }
        }
        if (found) this.output('stderr', lines.flush());
      });
      child.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e.code === 'ENOENT') {
          reject(new Error(`cannot start the luvit runtime: '${exe}' was not found (${hint})`));
        } else if (e.code === 'EACCES') {
          reject(new Error(`cannot start the luvit runtime: '${exe}' is not executable (${hint})`));
        } else {
          reject(new Error(`cannot start the luvit runtime '${exe}': ${e.message}`));
        }
      });
      child.once('close', (code, signal) => {
        if (found) {
          this.programGone();
          return;
        }
        clearTimeout(timer);
        stderr += lines.flush();
        reject(new Error(`'${a.program}' exited (${signal ? `signal ${signal}` : `code ${code}`}) before its debugger listened` +
          (stderr ? `; its stderr:\n${stderr}` : '')));
      });
    });
    try {
      await this.finishStart(req, url);
    } catch (e) {
      this.killChild();
      throw e;
    }
  }

  /** Launch through the editor's `runInTerminal`: the program gets a port picked here (its
   *  stderr is the terminal's, so no listening line to read) and is found via /json/list. */
  private async launchInTerminal(req: Json, t: {
    kind: string; title: string; cwd: string; env: Json; command: string[]; inspectFlag: string; rest: string[];
  }) {
    const port = await freePort();
    const args = [...t.command, `${t.inspectFlag}=127.0.0.1:${port}`, ...t.rest];
    const answer = await this.reverseRequest('runInTerminal', { kind: t.kind, title: t.title, cwd: t.cwd, args, env: t.env }, TIMEOUTS.terminal);
    if (!answer.success) {
      throw new Error(`the editor could not run the program in a terminal: ${answer.message || 'no reason given'}`);
    }
    const pid = answer.body && Number.isInteger(answer.body.processId) && answer.body.processId > 0 ? answer.body.processId : undefined;
    this.terminalPid = pid;
    this.launched = true;
    const url = await waitForProgram('127.0.0.1', port, TIMEOUTS.listening, () =>
      pid !== undefined && terminalPidGone(pid)
        ? `'${t.rest[0]}' exited before its debugger listened on 127.0.0.1:${port}`
        : undefined,
    ).catch((e) => {
      this.killChild();
      throw new Error(`${(e as Error).message}; the terminal shows what the program printed`);
    });
    try {
      await this.finishStart(req, url);
    } catch (e) {
      this.killChild();
      throw e;
    }
  }
}
