// The profile commands' flow ("Luvit: Start CPU Profile", "Stop Loop Profile", "Take Heap
// Snapshot", the status bar item...), with the editor reached only through `ProfileUi`: the
// extension passes VS Code's API, the tests a recorder and a real debug session. The
// requests are the runtime's custom DAP requests `luvitProfileStart`/`luvitProfileStop`/
// `luvitHeapSnapshot`, sent on the session they concern.

export type Profiler = 'cpu' | 'loop';

/** What a debug session must offer (VS Code's DebugSession fits). `customRequest` resolves
 *  with the response body and rejects with an Error carrying the runtime's message. */
export interface ProfileSession {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  customRequest(command: string, args?: any): PromiseLike<any>;
}

export interface ProfileUi {
  activeSession(): ProfileSession | undefined;
  /** An information message with buttons; the one clicked. */
  info(message: string, ...actions: string[]): PromiseLike<string | undefined>;
  error(message: string): void;
  /** Opens a file in the editor (a .cpuprofile / .heapsnapshot opens in VS Code's viewer). */
  openFile(file: string): PromiseLike<unknown> | void;
  /** Opens a file outside the editor (the flame graph .svg in a browser). */
  openExternal(file: string): PromiseLike<unknown> | void;
  /** Renders a LOOP.*.json in a webview. */
  showLoopReport(file: string): PromiseLike<unknown> | void;
  /** Lets the user choose a LOOP.*.json; undefined when cancelled. */
  pickLoopReport(): PromiseLike<string | undefined>;
  /** Shows (text) or hides (undefined) the recording status item. */
  status(text: string | undefined, tooltip?: string): void;
}

export const NO_SESSION =
  'Luvit: no luvit debug session is active. Start one (Run > Start Debugging) or attach to a luvit --inspect program, then run this command again.';

const LABEL: Record<Profiler, string> = { cpu: 'CPU profile', loop: 'loop profile' };

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export const OPEN_FLAME_GRAPH = 'Open Flame Graph';
export const OPEN_SNAPSHOT = 'Open Snapshot';

export class ProfileCommands {
  /** What records where: session id → the session and its running profilers. */
  private readonly recording = new Map<string, { session: ProfileSession; profilers: Set<Profiler> }>();

  constructor(private readonly ui: ProfileUi) {}

  /** The luvit session a command acts on, or undefined after telling the user. */
  private session(): ProfileSession | undefined {
    const s = this.ui.activeSession();
    if (!s || s.type !== 'luvit') {
      this.ui.error(NO_SESSION);
      return undefined;
    }
    return s;
  }

  /** Whether `profiler` records in `session` (as far as the commands know). */
  isRecording(session: ProfileSession, profiler: Profiler): boolean {
    return this.recording.get(session.id)?.profilers.has(profiler) ?? false;
  }

  private mark(session: ProfileSession, profiler: Profiler, on: boolean) {
    let r = this.recording.get(session.id);
    if (on) {
      if (!r) this.recording.set(session.id, (r = { session, profilers: new Set() }));
      r.profilers.add(profiler);
    } else if (r) {
      r.profilers.delete(profiler);
      if (!r.profilers.size) this.recording.delete(session.id);
    }
    this.updateStatus();
  }

  private updateStatus() {
    const parts: string[] = [];
    const names: string[] = [];
    for (const { session, profilers } of this.recording.values()) {
      for (const p of ['cpu', 'loop'] as Profiler[]) if (profilers.has(p)) parts.push(p === 'cpu' ? 'CPU' : 'loop');
      names.push(`'${session.name}'`);
    }
    if (!parts.length) {
      this.ui.status(undefined);
      return;
    }
    const what = [...new Set(parts)].join(' + ');
    this.ui.status(`$(record) Luvit: ${what} profile`, `Recording a ${what} profile of ${names.join(', ')}. Click to stop and open the results.`);
  }

  /** "Luvit: Start CPU Profile" / "Start Loop Profile". True when it started. */
  async start(profiler: Profiler, options?: { [key: string]: unknown }): Promise<boolean> {
    const session = this.session();
    if (!session) return false;
    if (this.isRecording(session, profiler)) {
      this.ui.error(`Luvit: a ${LABEL[profiler]} of '${session.name}' is already recording; stop it first.`);
      return false;
    }
    try {
      await session.customRequest('luvitProfileStart', options ? { profiler, options } : { profiler });
    } catch (e) {
      this.ui.error(`Luvit: could not start the ${LABEL[profiler]}: ${message(e)}`);
      return false;
    }
    this.mark(session, profiler, true);
    return true;
  }

  /** "Luvit: Stop CPU Profile" / "Stop Loop Profile": stops it on the session that records
   *  it (the active one first), then opens the results. The files written, or undefined. */
  async stop(profiler: Profiler, on?: ProfileSession): Promise<string[] | undefined> {
    let session = on;
    if (!session) {
      const active = this.ui.activeSession();
      if (active && this.isRecording(active, profiler)) session = active;
      else session = [...this.recording.values()].find((r) => r.profilers.has(profiler))?.session;
      if (!session) session = this.session();
      if (!session) return undefined;
    }
    let body: any;
    try {
      body = await session.customRequest('luvitProfileStop', { profiler });
    } catch (e) {
      this.mark(session, profiler, false);
      this.ui.error(`Luvit: could not stop the ${LABEL[profiler]}: ${message(e)}`);
      return undefined;
    }
    this.mark(session, profiler, false);
    const files: string[] = Array.isArray(body?.files) ? body.files.filter((f: unknown) => typeof f === 'string') : [];
    await this.openResults(profiler, files);
    return files;
  }

  private async openResults(profiler: Profiler, files: string[]) {
    if (profiler === 'cpu') {
      const profile = files.find((f) => f.endsWith('.cpuprofile'));
      const svg = files.find((f) => f.endsWith('.svg'));
      if (!profile) {
        this.ui.error(`Luvit: the runtime wrote no .cpuprofile (files: ${files.join(', ') || 'none'})`);
        return;
      }
      await this.ui.openFile(profile);
      const choice = await this.ui.info(`Luvit: CPU profile written to ${profile}`, ...(svg ? [OPEN_FLAME_GRAPH] : []));
      if (choice === OPEN_FLAME_GRAPH && svg) await this.ui.openExternal(svg);
    } else {
      const report = files.find((f) => /LOOP\.[^/\\]*\.json$/.test(f) && !f.endsWith('.trace.json'));
      if (!report) {
        this.ui.error(`Luvit: the runtime wrote no LOOP.*.json report (files: ${files.join(', ') || 'none'})`);
        return;
      }
      await this.showLoopReport(report);
    }
  }

  /** The status item's click: stop everything that records, on every session. */
  async stopAll(): Promise<void> {
    const jobs: Promise<unknown>[] = [];
    for (const { session, profilers } of [...this.recording.values()]) {
      for (const p of [...profilers]) jobs.push(this.stop(p, session));
    }
    if (!jobs.length) this.ui.error('Luvit: no profile is recording.');
    await Promise.all(jobs);
  }

  /** "Luvit: Take Heap Snapshot". The snapshot's file, or undefined. */
  async heapSnapshot(path?: string): Promise<string | undefined> {
    const session = this.session();
    if (!session) return undefined;
    let body: any;
    try {
      body = await session.customRequest('luvitHeapSnapshot', path ? { path } : {});
    } catch (e) {
      this.ui.error(`Luvit: could not take a heap snapshot: ${message(e)}`);
      return undefined;
    }
    const file = typeof body?.file === 'string' ? body.file : undefined;
    if (!file) {
      this.ui.error('Luvit: the runtime answered the heap snapshot request without a file');
      return undefined;
    }
    const choice = await this.ui.info(`Luvit: heap snapshot written to ${file}`, OPEN_SNAPSHOT);
    if (choice === OPEN_SNAPSHOT) await this.ui.openFile(file);
    return file;
  }

  /** "Luvit: Show Loop Report": the given file, or one the user picks. */
  async showLoopReport(file?: string): Promise<void> {
    const chosen = file ?? (await this.ui.pickLoopReport());
    if (!chosen) return;
    try {
      await this.ui.showLoopReport(chosen);
    } catch (e) {
      this.ui.error(`Luvit: cannot show ${chosen}: ${message(e)}`);
    }
  }

  /** A debug session ended: whatever it recorded is gone with it. */
  sessionEnded(id: string): void {
    if (this.recording.delete(id)) this.updateStatus();
  }
}
