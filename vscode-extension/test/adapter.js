// Drives `node out/adapter.js` (the bridge as a stdio debug adapter) with Microsoft's
// DebugClient against the real luvit binary, the way VS Code would talk to the extension.
// LUVIT_BIN names the binary (default: ../target/debug/luvit); CASE=substring runs some cases.
'use strict';
const assert = require('assert');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { spawn } = require('child_process');
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { ProfileCommands } = require(path.join(__dirname, '..', 'out', 'ui.js'));

const root = path.resolve(__dirname, '..', '..');
const luvit = path.resolve(process.env.LUVIT_BIN || path.join(root, 'target', 'debug', 'luvit'));
const adapter = path.resolve(__dirname, '..', 'out', 'adapter.js');
const examples = path.join(root, 'examples', 'debug');
const basics = path.join(examples, 'basics.lua');
const stepping = path.join(examples, 'stepping.lua');
const errors = path.join(examples, 'errors.lua');
const server = path.join(examples, 'server.lua');

for (const f of [luvit, adapter]) {
  if (!fs.existsSync(f)) {
    console.log(`not ok - ${f} does not exist (set LUVIT_BIN; run npm run build)`);
    process.exit(1);
  }
}

const CASE_TIMEOUT = 20000;

function timeout(ms, what) {
  let t;
  const p = new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); });
  p.cancel = () => clearTimeout(t);
  return p;
}

async function withClient(fn) {
  const dc = new DebugClient('node', adapter, 'luvit', { env: { ...process.env, LUVIT_RUNTIME: luvit } }, true);
  dc.defaultTimeout = 8000;
  await dc.start();
  try {
    await fn(dc);
  } finally {
    // After a case's own disconnect the adapter exits and would never answer stop()'s.
    const proc = dc._adapterProcess;
    const exited = !proc || proc.exitCode !== null || proc.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => proc.once('exit', r));
    await Promise.race([dc.stop(), exited, new Promise((r) => setTimeout(r, 3000))]);
    dc.stopAdapter();
  }
}

async function topFrame(dc) {
  const st = await dc.stackTraceRequest({ threadId: 1 });
  return { frames: st.body.stackFrames, top: st.body.stackFrames[0] };
}

async function localValue(dc, frameId, name) {
  const scopes = await dc.scopesRequest({ frameId });
  const vars = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
  const v = vars.body.variables.find((x) => x.name === name);
  assert.ok(v, `no local ${name} in ${JSON.stringify(vars.body.variables.map((x) => x.name))}`);
  return v.value;
}

function get(port, pathName = '/') {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('HTTP request timed out')));
  });
}

/** Starts `luvit --inspect=127.0.0.1:0 server.lua` (not waiting for a debugger) and returns
 *  its inspector URL and HTTP port. */
function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(luvit, ['--inspect=127.0.0.1:0', server], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let url;
    let port;
    let err = '';
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not start: ${err}`)); }, 8000);
    const check = () => {
      if (url && port) { clearTimeout(t); resolve({ child, url, port }); }
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      err += d;
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(err);
      if (m) { url = m[1]; check(); }
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\d+)/.exec(out);
      if (m) { port = Number(m[1]); check(); }
    });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`server exited ${code}: ${err}`)); });
  });
}

/** Makes the client answer the adapter's reverse requests (runInTerminal) with `handler`'s
 *  result ({success, body} or {success: false, message}); DebugClient alone drops them. */
function answerReverseRequests(dc, handler) {
  const dispatch = dc.dispatch.bind(dc);
  dc.dispatch = (text) => {
    const msg = JSON.parse(text);
    if (msg.type !== 'request') return dispatch(text);
    Promise.resolve(handler(msg)).then((res) => {
      const json = JSON.stringify({ seq: 100000 + msg.seq, type: 'response', request_seq: msg.seq, command: msg.command, ...res });
      dc.outputStream.write(`Content-Length: ${Buffer.byteLength(json, 'utf8')}\r\n\r\n${json}`);
    });
  };
}

/** What VS Code's integrated terminal would do with a runInTerminal request: run its args
 *  in its cwd with its env changes. The "terminal" output is collected. */
function runLikeATerminal(args) {
  const env = { ...process.env };
  for (const [k, v] of Object.entries(args.env || {})) {
    if (v === null) delete env[k];
    else env[k] = v;
  }
  const child = spawn(args.args[0], args.args.slice(1), { cwd: args.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const term = { child, text: '' };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => (term.text += d));
  child.stderr.on('data', (d) => (term.text += d));
  term.exited = new Promise((r) => child.on('exit', r));
  return term;
}

const TERMINAL_CLIENT = { adapterID: 'luvit', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsRunInTerminalRequest: true };

/** Launches server.lua (PORT=0) and returns its HTTP port once it listens. */
async function launchServer(dc) {
  const seen = [];
  dc.on('output', (e) => seen.push(e.body.output));
  await Promise.all([
    dc.configurationSequence(),
    dc.launch({ program: server, env: { PORT: '0' } }),
  ]);
  const started = Date.now();
  while (!/listening on (\d+)/.test(seen.join(''))) {
    if (Date.now() - started > 5000) throw new Error(`server.lua did not listen: ${seen.join('')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Number(/listening on (\d+)/.exec(seen.join(''))[1]);
}

/** A session over the DebugClient shaped like VS Code's DebugSession.customRequest (the
 *  body, or an Error with the runtime's message). */
function sessionOf(dc) {
  return { id: 's1', name: 'server.lua', type: 'luvit', customRequest: (command, args) => dc.customRequest(command, args).then((r) => r.body) };
}

/** A ProfileUi that records what the commands did; buttons answered from `answers`. */
function recordingUi(session, answers = {}) {
  const log = { status: [], errors: [], infos: [], opened: [], external: [], reports: [] };
  const ui = {
    activeSession: () => session,
    info: async (m, ...actions) => { log.infos.push({ m, actions }); return answers[m.split(' ')[1]] && actions.includes(answers[m.split(' ')[1]]) ? answers[m.split(' ')[1]] : undefined; },
    error: (m) => log.errors.push(m),
    openFile: (f) => { log.opened.push(f); },
    openExternal: (f) => { log.external.push(f); },
    showLoopReport: (f) => { log.reports.push(f); },
    pickLoopReport: async () => undefined,
    status: (text) => log.status.push(text),
  };
  return { ui, log };
}

async function attachAndBreak(dc, attachArgs, srv) {
  await dc.initializeRequest();
  await Promise.all([
    dc.waitForEvent('initialized').then(() =>
      dc.setBreakpointsRequest({ source: { path: server }, breakpoints: [{ line: 6 }] })
    ).then((r) => {
      assert.strictEqual(r.body.breakpoints[0].verified, true);
      return dc.configurationDoneRequest();
    }),
    dc.attachRequest(attachArgs),
  ]);
  // A request runs the handler: the breakpoint stops it; continuing answers the request.
  const answer = get(srv.port);
  answer.catch(() => {}); // awaited below; a failure before then must not crash the runner
  await dc.assertStoppedLocation('breakpoint', { path: server, line: 6 });
  const { top } = await topFrame(dc);
  // count is an upvalue of the handler; the request has not been counted yet
  const before = await dc.evaluateRequest({ expression: 'count', frameId: top.id, context: 'watch' });
  assert.match(before.body.result, /^\d+$/);
  await dc.continueRequest({ threadId: 1 });
  assert.match(await answer, /^hello \d+\n$/);
}

const cases = {
  async 'a breakpoint inside a coroutine is hit (basics.lua:21)'(dc) {
    await dc.hitBreakpoint({ program: basics }, { path: basics, line: 21 });
    const { top } = await topFrame(dc);
    assert.strictEqual(top.line, 21);
    assert.strictEqual(await localValue(dc, top.id, 'y'), '10');
  },

  async 'a breakpoint inside a timer callback shows the label frame of where the timer was set'(dc) {
    await dc.hitBreakpoint({ program: basics }, { path: basics, line: 15 });
    const { frames, top } = await topFrame(dc);
    assert.strictEqual(top.line, 15);
    const label = frames.find((f) => f.presentationHint === 'label');
    assert.ok(label, `no label frame in ${JSON.stringify(frames)}`);
    assert.strictEqual(label.line, 13);
    assert.match(label.name, /basics\.lua:13/);
  },

  async 'step over a line that yields (stepping.lua 12 -> 13)'(dc) {
    await dc.hitBreakpoint({ program: stepping }, { path: stepping, line: 12 });
    await Promise.all([
      dc.nextRequest({ threadId: 1 }),
      dc.assertStoppedLocation('step', { path: stepping, line: 13 }),
    ]);
    const { top } = await topFrame(dc);
    assert.strictEqual(await localValue(dc, top.id, 'before'), '41');
  },

  async 'evaluate in a frame, and in its caller'(dc) {
    await dc.hitBreakpoint({ program: basics }, { path: basics, line: 7 });
    const { frames, top } = await topFrame(dc);
    const r = await dc.evaluateRequest({ expression: 'a * 10 + b', frameId: top.id, context: 'watch' });
    assert.strictEqual(r.body.result, '12');
    const bad = dc.evaluateRequest({ expression: 'a +', frameId: top.id, context: 'repl' });
    await assert.rejects(bad);
    assert.strictEqual(frames[1].line, 10);
  },

  async 'setVariable changes what the program then prints'(dc) {
    await dc.hitBreakpoint({ program: basics }, { path: basics, line: 7 });
    const { top } = await topFrame(dc);
    const scopes = await dc.scopesRequest({ frameId: top.id });
    const ref = scopes.body.scopes[0].variablesReference;
    const r = await dc.setVariableRequest({ variablesReference: ref, name: 'sum', value: '40 + 2' });
    assert.strictEqual(r.body.value, '42');
    assert.strictEqual(await localValue(dc, top.id, 'sum'), '42');
    await dc.setBreakpointsRequest({ source: { path: basics }, breakpoints: [] });
    await Promise.all([
      dc.continueRequest({ threadId: 1 }),
      dc.assertOutput('stdout', 'total\t42'),
      dc.waitForEvent('terminated'),
    ]);
  },

  async 'an uncaught error in a timer callback stops with reason exception (errors.lua:7)'(dc) {
    await Promise.all([
      dc.waitForEvent('initialized')
        .then(() => dc.setExceptionBreakpointsRequest({ filters: ['uncaught'] }))
        .then(() => dc.configurationDoneRequest()),
      dc.launch({ program: errors }),
      dc.assertStoppedLocation('exception', { path: errors, line: 7 }),
    ]);
    const info = await dc.customRequest('exceptionInfo', { threadId: 1 });
    assert.match(JSON.stringify(info.body), /bad thing/);
  },

  async 'stopOnEntry stops on the first line, then the output is relayed once'(dc) {
    const outputs = [];
    dc.on('output', (e) => outputs.push(e.body));
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program: basics, stopOnEntry: true }),
      dc.assertStoppedLocation('entry', { path: basics, line: 3 }),
    ]);
    assert.strictEqual(outputs.filter((o) => o.category === 'stdout').length, 0);
    await Promise.all([
      dc.continueRequest({ threadId: 1 }),
      dc.waitForEvent('terminated'),
    ]);
    const stdout = outputs.filter((o) => o.category === 'stdout').map((o) => o.output).join('');
    assert.strictEqual(stdout, 'total\t3\nco\ttrue\t10\nco\ttrue\t11\nlate\t13\n');
  },

  async 'launch passes args, cwd and env to the program'(dc) {
    const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'luvit-ext-'));
    const prog = path.join(dir, 'args.lua');
    fs.writeFileSync(prog, "print(process.argv[#process.argv], process.env.GREETING, process.cwd())\n");
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program: prog, args: ['one', 'two'], cwd: dir, env: { GREETING: 'hi' } }),
      dc.assertOutput('stdout', `two\thi\t${fs.realpathSync(dir)}`),
      dc.waitForEvent('terminated'),
    ]);
  },

  async 'attach by port (through /json/list), then disconnect leaves the program serving'(dc) {
    const srv = await startServer();
    try {
      const port = Number(new URL(srv.url).port);
      await attachAndBreak(dc, { port, host: '127.0.0.1' }, srv);
      await dc.disconnectRequest({});
      await new Promise((r) => setTimeout(r, 300));
      assert.strictEqual(srv.child.exitCode, null, 'the attached program ended');
      assert.match(await get(srv.port), /^hello \d+\n$/);
    } finally {
      srv.child.kill('SIGKILL');
    }
  },

  async 'attach by URL, then disconnect leaves the program serving'(dc) {
    const srv = await startServer();
    try {
      await attachAndBreak(dc, { url: srv.url }, srv);
      await dc.disconnectRequest({});
      await new Promise((r) => setTimeout(r, 300));
      assert.strictEqual(srv.child.exitCode, null, 'the attached program ended');
      assert.match(await get(srv.port), /^hello \d+\n$/);
    } finally {
      srv.child.kill('SIGKILL');
    }
  },

  async 'attach to a port nobody serves fails with a clear message'(dc) {
    await dc.initializeRequest();
    const e = await dc.attachRequest({ port: 1, host: '127.0.0.1' }).then(() => null, (err) => err);
    assert.ok(e, 'attach succeeded');
    assert.match(e.message, /cannot reach the debugger at 127\.0\.0\.1:1/);
  },

  async 'disconnect from a launched program ends it'(dc) {
    await dc.initializeRequest();
    const seen = [];
    await Promise.all([
      dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
      dc.launch({ program: server, env: { PORT: '0' } }),
      dc.waitForEvent('output').then((e) => seen.push(e.body.output)),
    ]);
    const port = Number(/listening on (\d+)/.exec(seen.join(''))[1]);
    assert.match(await get(port), /^hello 1\n$/);
    await dc.disconnectRequest({});
    await new Promise((r) => setTimeout(r, 500));
    await assert.rejects(get(port), /ECONNREFUSED/);
  },

  async 'launch with a missing runtime fails clearly within 5 s'(dc) {
    await dc.initializeRequest();
    const started = Date.now();
    const e = await dc.launchRequest({ program: basics, runtimeExecutable: '/nonexistent/luvit' })
      .then(() => null, (err) => err);
    assert.ok(e, 'launch succeeded');
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.match(e.message, /'\/nonexistent\/luvit' was not found/);
    assert.match(e.message, /runtimeExecutable/);
  },

  async 'a program that exits before listening fails with its stderr'(dc) {
    await dc.initializeRequest();
    const e = await dc.launchRequest({ program: basics, runtimeArgs: ['--no-such-option'] })
      .then(() => null, (err) => err);
    assert.ok(e, 'launch succeeded');
    assert.match(e.message, /exited \(code \d+\) before its debugger listened/);
  },

  async 'the profile requests pass through: CPU files written, a loop report, heap answered, bad input refused'(dc) {
    const port = await launchServer(dc);
    const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'luvit-prof-'));
    try {
      await dc.customRequest('luvitProfileStart', { profiler: 'cpu', options: { dir, interval: 500 } });
      await dc.customRequest('luvitProfileStart', { profiler: 'loop', options: { dir, threshold: 20 } });
      for (let i = 0; i < 5; i++) assert.match(await get(port), /^hello \d+\n$/);
      const cpu = await dc.customRequest('luvitProfileStop', { profiler: 'cpu' });
      const files = cpu.body.files;
      for (const ext of ['.cpuprofile', '.folded', '.svg']) {
        const f = files.find((x) => x.endsWith(ext));
        assert.ok(f && fs.existsSync(f), `no ${ext} in ${JSON.stringify(files)}`);
      }
      const profile = JSON.parse(fs.readFileSync(files.find((x) => x.endsWith('.cpuprofile')), 'utf8'));
      assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, 'a .cpuprofile with nodes');
      const loop = await dc.customRequest('luvitProfileStop', { profiler: 'loop' });
      const report = loop.body.files.find((x) => /LOOP\..*\.json$/.test(x) && !x.endsWith('.trace.json'));
      assert.ok(report && fs.existsSync(report), JSON.stringify(loop.body.files));
      const r = JSON.parse(fs.readFileSync(report, 'utf8'));
      assert.strictEqual(typeof r.utilization, 'number');
      assert.ok(r.callbacks.length > 0, 'the requests ran callbacks');
      // the heap snapshot, where asked
      const heap = await dc.customRequest('luvitHeapSnapshot', { path: path.join(dir, 'x.heapsnapshot') });
      assert.ok(fs.existsSync(heap.body.file) && heap.body.file.startsWith(dir), JSON.stringify(heap.body));
      await assert.rejects(dc.customRequest('luvitProfileStart', { profiler: 'gpu' }), /unknown profiler 'gpu'/);
      await assert.rejects(dc.customRequest('luvitProfileStop', { profiler: 'cpu' }), /\w/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },

  async 'the profile commands on a real session: status while recording, the profile opened, the report shown'(dc) {
    const port = await launchServer(dc);
    const session = sessionOf(dc);
    const { ui, log } = recordingUi(session, { 'CPU': 'Open Flame Graph' });
    const cmds = new ProfileCommands(ui);
    const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'luvit-cmds-'));
    assert.strictEqual(await cmds.start('cpu', { dir }), true);
    assert.strictEqual(await cmds.start('loop', { dir }), true);
    assert.match(log.status[log.status.length - 1], /Luvit: CPU \+ loop profile/);
    assert.strictEqual(await cmds.start('cpu'), false, 'a second start of the same profiler');
    assert.match(log.errors.pop(), /already recording/);
    await get(port);
    const files = await cmds.stop('cpu');
    assert.ok(files && files.length >= 3, JSON.stringify(files));
    assert.match(log.status[log.status.length - 1], /Luvit: loop profile/);
    assert.deepStrictEqual(log.opened, [files.find((f) => f.endsWith('.cpuprofile'))]);
    assert.ok(fs.existsSync(log.opened[0]));
    assert.deepStrictEqual(log.external, [files.find((f) => f.endsWith('.svg'))], 'the flame graph was offered and opened');
    await cmds.stopAll(); // the status item's click
    assert.strictEqual(log.status[log.status.length - 1], undefined, 'the status item is hidden');
    assert.strictEqual(log.reports.length, 1);
    assert.match(path.basename(log.reports[0]), /^LOOP\..*\.json$/);
    assert.ok(fs.existsSync(log.reports[0]));
    // a heap snapshot, where asked
    const snap = await cmds.heapSnapshot(path.join(dir, 'cmd.heapsnapshot'));
    assert.ok(snap && fs.existsSync(snap) && snap.startsWith(dir), String(snap));
    // the runtime refusing: the user is told why, nothing is marked as recording
    assert.strictEqual(await cmds.stop('cpu'), undefined);
    assert.match(log.errors.pop(), /could not stop the CPU profile: \w/);
    assert.deepStrictEqual(log.errors, []);
    assert.ok([...files, ...log.reports].every((f) => f.startsWith(dir)), 'the files went where asked');
    fs.rmSync(dir, { recursive: true, force: true });
    // no session: a clear message, no request
    const none = recordingUi(undefined);
    assert.strictEqual(await new ProfileCommands(none.ui).start('cpu'), false);
    assert.match(none.log.errors[0], /no luvit debug session is active/);
  },

  async 'console integratedTerminal: runInTerminal starts the program, the adapter finds it, output stays in the terminal'(dc) {
    let term;
    let asked;
    answerReverseRequests(dc, (req) => {
      asked = req;
      term = runLikeATerminal(req.arguments);
      return { success: true, body: { processId: term.child.pid } };
    });
    const outputs = [];
    dc.on('output', (e) => outputs.push(e.body));
    try {
      await dc.initializeRequest(TERMINAL_CLIENT);
      await Promise.all([
        dc.waitForEvent('initialized')
          .then(() => dc.setBreakpointsRequest({ source: { path: basics }, breakpoints: [{ line: 21 }] }))
          .then(() => dc.configurationDoneRequest()),
        dc.launchRequest({ program: basics, console: 'integratedTerminal', args: ['x y'], runtimeExecutable: luvit }),
        dc.assertStoppedLocation('breakpoint', { path: basics, line: 21 }),
      ]);
      assert.strictEqual(asked.command, 'runInTerminal');
      assert.strictEqual(asked.arguments.kind, 'integrated');
      const a = asked.arguments.args;
      assert.strictEqual(a[0], luvit);
      assert.match(a[1], /^--inspect-wait=127\.0\.0\.1:\d+$/);
      assert.deepStrictEqual(a.slice(2), [basics, 'x y']);
      const { top } = await topFrame(dc);
      assert.strictEqual(await localValue(dc, top.id, 'y'), '10');
      await dc.setBreakpointsRequest({ source: { path: basics }, breakpoints: [] });
      await Promise.all([dc.continueRequest({ threadId: 1 }), dc.waitForEvent('terminated')]);
      await Promise.race([term.exited, new Promise((r) => setTimeout(r, 3000))]);
      assert.match(term.text, /total\t3\nco\ttrue\t10\n/);
      assert.deepStrictEqual(outputs.filter((o) => o.category === 'stdout'), [], 'program output also went to the console');
    } finally {
      if (term) term.child.kill('SIGKILL');
    }
  },

  async 'console integratedTerminal: disconnect ends the program in the terminal'(dc) {
    let term;
    answerReverseRequests(dc, (req) => {
      term = runLikeATerminal(req.arguments);
      return { success: true, body: { processId: term.child.pid } };
    });
    try {
      await dc.initializeRequest(TERMINAL_CLIENT);
      await Promise.all([
        dc.waitForEvent('initialized').then(() => dc.configurationDoneRequest()),
        dc.launchRequest({ program: server, console: 'integratedTerminal', env: { PORT: '0' }, runtimeExecutable: luvit }),
      ]);
      const started = Date.now();
      while (!/listening on (\d+)/.test(term.text)) {
        if (Date.now() - started > 5000) throw new Error(`server.lua did not listen: ${term.text}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(await get(Number(/listening on (\d+)/.exec(term.text)[1])), /^hello 1\n$/);
      await dc.disconnectRequest({});
      const code = await Promise.race([term.exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 3000))]);
      assert.strictEqual(code, 'exited', 'the program outlived the session');
    } finally {
      if (term) term.child.kill('SIGKILL');
    }
  },

  async 'console integratedTerminal: a program that exits before listening fails soon, pointing at the terminal'(dc) {
    let term;
    answerReverseRequests(dc, (req) => {
      term = runLikeATerminal(req.arguments);
      return { success: true, body: { processId: term.child.pid } };
    });
    await dc.initializeRequest(TERMINAL_CLIENT);
    const started = Date.now();
    const e = await dc.launchRequest({ program: basics, console: 'integratedTerminal', runtimeArgs: ['--no-such-option'], runtimeExecutable: luvit })
      .then(() => null, (err) => err);
    assert.ok(e, 'launch succeeded');
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.match(e.message, /exited before its debugger listened.*terminal/s);
  },

  async 'console integratedTerminal: a terminal the editor refuses, and a missing runtime, are clear errors'(dc) {
    answerReverseRequests(dc, () => ({ success: false, message: 'no terminal here' }));
    await dc.initializeRequest(TERMINAL_CLIENT);
    const refused = await dc.launchRequest({ program: basics, console: 'integratedTerminal', runtimeExecutable: luvit }).then(() => null, (err) => err);
    assert.match(refused && refused.message, /could not run the program in a terminal: no terminal here/);
    const missing = await dc.launchRequest({ program: basics, console: 'integratedTerminal', runtimeExecutable: '/nonexistent/luvit' }).then(() => null, (err) => err);
    assert.match(missing && missing.message, /'\/nonexistent\/luvit' was not found.*runtimeExecutable/);
  },

  async 'console integratedTerminal with a client that cannot run terminals: the debug console, said so'(dc) {
    const outputs = [];
    dc.on('output', (e) => outputs.push(e.body));
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program: basics, console: 'integratedTerminal' }),
      dc.waitForEvent('terminated'),
    ]);
    assert.match(outputs.map((o) => o.output).join(''), /cannot run programs in a terminal/);
    assert.match(outputs.filter((o) => o.category === 'stdout').map((o) => o.output).join(''), /total\t3/);
  },

  async 'attach with neither port nor url: the one program found is attached'(dc) {
    const srv = await startServer();
    try {
      const port = Number(new URL(srv.url).port);
      await attachAndBreak(dc, { attachPorts: [port, 1] }, srv);
      await dc.disconnectRequest({});
    } finally {
      srv.child.kill('SIGKILL');
    }
  },

  async 'attach with neither port nor url and two programs: an error listing both'(dc) {
    const a = await startServer();
    const b = await startServer();
    try {
      await dc.initializeRequest();
      const ports = [a, b].map((s) => Number(new URL(s.url).port));
      const e = await dc.attachRequest({ attachPorts: ports }).then(() => null, (err) => err);
      assert.ok(e, 'attach succeeded');
      assert.match(e.message, /2 luvit programs serve the debugger/);
      assert.ok(e.message.includes(a.url) && e.message.includes(b.url), e.message);
      const none = await dc.attachRequest({ attachPorts: [1] }).then(() => null, (err) => err);
      assert.match(none && none.message, /no luvit --inspect program found on 127\.0\.0\.1 port 1/);
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
    }
  },

  async 'requests before launch get an error, not silence'(dc) {
    await dc.initializeRequest();
    await assert.rejects(dc.stackTraceRequest({ threadId: 1 }), /needs a program/);
  },
};

let finished = false;
// A request whose response never comes leaves node with nothing to wait for: it would exit 0.
process.on('exit', () => {
  if (!finished) {
    console.log('not ok - the client was left waiting for a response that never came');
    process.exitCode = 1;
  }
});
setTimeout(() => { console.log('not ok - the whole suite timed out'); process.exit(1); }, 240000).unref();

(async () => {
  let failed = 0;
  for (const [name, fn] of Object.entries(cases)) {
    if (process.env.CASE && !name.includes(process.env.CASE)) continue;
    const limit = timeout(CASE_TIMEOUT, name);
    try {
      await Promise.race([withClient(fn), limit]);
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}\n  ${String((e && e.stack) || e).split('\n').join('\n  ')}`);
    } finally {
      limit.cancel();
    }
  }
  finished = true;
  process.exit(failed ? 1 : 0);
})();
