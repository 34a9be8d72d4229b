// Tests of the editor-side logic that needs no VS Code (out/ui.js): the loop report renderer
// fed a report the real runtime wrote and a hostile one, and the attach picker's discovery
// against real `luvit --inspect=127.0.0.1:0` programs. LUVIT_BIN names the binary.
'use strict';
const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const ui = require(path.join(__dirname, '..', 'out', 'ui.js'));

const root = path.resolve(__dirname, '..', '..');
const luvit = path.resolve(process.env.LUVIT_BIN || path.join(root, 'target', 'debug', 'luvit'));
const OPTS = { nonce: 'n0nce', cspSource: 'vscode-webview://x', title: 'LOOP.test.json', openCommand: 'luvit.openSite' };

/** The hrefs of a page's links, decoded to [file, line]. */
function links(html) {
  return [...html.matchAll(/<a href="command:luvit\.openSite\?([^"]*)"/g)].map((m) =>
    JSON.parse(decodeURIComponent(m[1].replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))))));
}

/** The page's tags with their quoted attribute values blanked: what a browser would
 *  take as element and attribute names. */
function tags(html) {
  return [...html.matchAll(/<[^>]*>/g)].map((m) => m[0].replace(/"[^"]*"/g, '""'));
}

/** No script, no event handler, nothing that loads a resource. */
function assertNoActiveContent(html, nonce = 'n0nce') {
  const t = tags(html);
  assert.ok(!t.some((x) => /^<\/?script/i.test(x)), 'a <script> element');
  assert.ok(!t.some((x) => /\son\w+\s*=/i.test(x)), `an event handler attribute: ${t.filter((x) => /\son\w+\s*=/i.test(x))}`);
  assert.ok(!t.some((x) => /^<(iframe|object|embed|img|link|base|form|meta http-equiv="" content=""[^>]*refresh)\b/i.test(x)), 'an element that loads something');
  assert.ok(!/href="(?!command:luvit\.openSite\?)/.test(html), 'a link that is not a site link');
  assert.ok(html.includes(`Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${nonce}'`), 'the CSP');
}

function startInspected(file) {
  return new Promise((resolve, reject) => {
    const child = spawn(luvit, ['--inspect=127.0.0.1:0', file], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no listening line: ${err}`)); }, 8000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      err += d;
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(err);
      if (m) { clearTimeout(t); resolve({ child, url: m[1], port: Number(new URL(m[1]).port) }); }
    });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`exited ${code}: ${err}`)); });
  });
}

const cases = {
  'a report the runtime wrote renders its figures, tables and links'() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'luvit-loop-'));
    const prog = path.join(root, 'examples', 'profile-loop.lua');
    const r = spawnSync(luvit, ['--loop-prof', `--loop-prof-dir=${dir}`, prog], { encoding: 'utf8', timeout: 20000 });
    assert.strictEqual(r.status, 0, r.stderr);
    const file = fs.readdirSync(dir).find((f) => /^LOOP\..*\.json$/.test(f) && !f.endsWith('.trace.json'));
    assert.ok(file, `no report in ${fs.readdirSync(dir)}`);
    const report = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    assert.ok(report.slow.length >= 1, 'the example has a slow callback');
    const html = ui.renderLoopReport(report, OPTS);
    assertNoActiveContent(html);
    assert.ok(html.includes(`${(report.utilization * 100).toFixed(1)}%`), 'utilization shown');
    assert.ok(html.includes(report.lag.p99_ms.toFixed(1)), 'lag p99 shown');
    assert.ok(html.includes(ui.escapeHtml(report.slow[0].summary)), 'the slow callback summary shown');
    for (const c of report.callbacks) assert.ok(html.includes(`>${ui.escapeHtml(c.site)}</a>`), `site ${c.site} linked`);
    // shown relative (as the extension does with the workspace), linked by the real path
    const rel = ui.renderLoopReport(report, { ...OPTS, displayPath: (f) => path.relative(root, f) });
    assert.ok(rel.includes(`>examples/profile-loop.lua:${report.callbacks[0].site.split(':').pop()}</a>`), 'the relative site');
    assert.deepStrictEqual(links(rel), links(html));
    const targets = links(html);
    assert.ok(targets.some(([f, l]) => f === prog && l === Number(report.callbacks[0].site.split(':').pop())), JSON.stringify(targets));
    // the stack's chunk names ([C], =json, builtin:) are text, its files links
    const frames = report.slow[0].stack;
    for (const f of frames.filter((f) => f.source.startsWith('/'))) {
      assert.ok(targets.some(([file, line]) => file === f.source && line === f.line), `frame ${f.name} ${f.source}:${f.line} linked`);
    }
    assert.ok(!targets.some(([file]) => /^(\[C\]|=|builtin:)/.test(file)), 'a chunk name became a link');
    assert.ok(/<svg class="chart"/.test(html), 'the heap chart');
    fs.rmSync(dir, { recursive: true, force: true });
  },

  'a hostile report cannot inject markup or scripts'() {
    const evil = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'`&';
    const report = {
      duration_ms: '<b>1</b>', utilization: evil, threshold_ms: 50,
      lag: { count: 1, p50_ms: 1, p99_ms: 2, max_ms: 3, mean_ms: evil },
      callbacks: [{ kind: evil, site: `${evil}.lua:12`, function: evil, count: evil, total_ms: 1, p99_ms: 1, max_ms: 1 }, null, 'x'],
      slow_count: 1,
      slow: [{
        kind: evil, site: `/tmp/"><script>x</script>.lua:3`, function: '=json:1', duration_ms: 70, at_ms: 1, samples: 2,
        summary: evil, hot: [{ name: evil, source: evil, share: 0.5 }],
        stack: [{ name: evil, source: `/a/${evil}.lua`, line: 9 }, { name: 'f', source: '[C]', line: 0 }, { name: 'g', source: 'builtin:timer.lua', line: 4 }],
      }],
      heap: { max_kb: evil, samples: [[0, 1], ['<x>', 2], [5, 3]] },
    };
    const html = ui.renderLoopReport(report, { ...OPTS, title: evil, nonce: 'a"b' });
    assertNoActiveContent(html, 'a&#34;b');
    assert.ok(html.includes('&#60;script&#62;alert(1)&#60;/script&#62;'), 'the text is shown escaped');
    assert.ok(html.includes(`style-src 'nonce-a&#34;b'`), 'the nonce is escaped');
    // the links still carry the real file names, decoded intact
    const targets = links(html);
    assert.deepStrictEqual(targets.find(([, l]) => l === 3), ['/tmp/"><script>x</script>.lua', 3]);
    assert.deepStrictEqual(targets.find(([, l]) => l === 9), [`/a/${evil}.lua`, 9]);
    assert.ok(!targets.some(([f]) => f === '=json' || f === '[C]' || f.startsWith('builtin:')), JSON.stringify(targets));
  },

  'something that is not a report is a clear error'() {
    for (const bad of [null, [], 'x', 3]) assert.throws(() => ui.renderLoopReport(bad, OPTS), /not a loop report/);
    // an empty object renders (all figures unknown) rather than throwing
    assert.match(ui.renderLoopReport({}, OPTS), /No callback ran/);
  },

  'sites: files are links, chunk names are not'() {
    assert.deepStrictEqual(ui.parseSite('/a/b.lua:12'), { file: '/a/b.lua', line: 12 });
    assert.deepStrictEqual(ui.parseSite('C:\\x\\b.lua:3'), { file: 'C:\\x\\b.lua', line: 3 });
    assert.deepStrictEqual(ui.parseSite('app.lua:1'), { file: 'app.lua', line: 1 });
    for (const s of ['=json:4', '[C]:0', 'builtin:timer.lua:34', '?', 'no-line.lua', 12, null]) {
      assert.strictEqual(ui.parseSite(s), undefined, String(s));
    }
  },

  'attach ports: the configuration\'s list, else 9229 and the setting\'s'() {
    assert.deepStrictEqual(ui.attachPortsToScan(undefined, undefined), [9229]);
    assert.deepStrictEqual(ui.attachPortsToScan([], [9230, '9231', 9229]), [9229, 9230, 9231]);
    assert.deepStrictEqual(ui.attachPortsToScan([4000], [9230]), [4000]);
    assert.throws(() => ui.attachPortsToScan(['x'], []), /attachPorts.*port numbers/);
    assert.throws(() => ui.attachPortsToScan(undefined, [70000]), /luvit\.attachPorts/);
  },

  async 'the attach picker lists the real programs on the ports it asks, and returns the one picked'() {
    const server = path.join(root, 'examples', 'debug', 'server.lua');
    const a = await startInspected(server);
    const b = await startInspected(server);
    try {
      const shown = [];
      const errors = [];
      const url = await ui.chooseTarget('127.0.0.1', [a.port, b.port, 1], {
        pick: async (items, placeHolder) => { shown.push(...items); assert.match(placeHolder, /attach/); return items.find((i) => i.target.url === b.url); },
        error: (m) => errors.push(m),
      });
      assert.strictEqual(url, b.url);
      assert.deepStrictEqual(errors, []);
      assert.deepStrictEqual(shown.map((i) => i.target.url).sort(), [a.url, b.url].sort());
      assert.ok(shown.every((i) => i.label === 'server.lua' && i.detail.includes(server)), JSON.stringify(shown));
      // cancelling the pick attaches to nothing
      assert.strictEqual(await ui.chooseTarget('127.0.0.1', [a.port], { pick: async () => undefined, error: (m) => errors.push(m) }), undefined);
      assert.deepStrictEqual(errors, []);
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
    }
  },

  async 'the attach picker with nothing to list says where it looked'() {
    const errors = [];
    let picked = false;
    const url = await ui.chooseTarget('127.0.0.1', [1, 2], { pick: async () => { picked = true; }, error: (m) => errors.push(m) });
    assert.strictEqual(url, undefined);
    assert.strictEqual(picked, false);
    assert.match(errors.join(), /no luvit --inspect program found on 127\.0\.0\.1 ports 1, 2/);
  },
};

(async () => {
  let failed = 0;
  for (const [name, fn] of Object.entries(cases)) {
    try {
      await fn();
      console.log(`ok - ui: ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ui: ${name}\n  ${String((e && e.stack) || e).split('\n').join('\n  ')}`);
    }
  }
  process.exit(failed ? 1 : 0);
})();
