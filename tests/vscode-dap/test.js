// Drives `luvit dap` (a stdio debug adapter) with Microsoft's DebugClient, so a client we did
// not write checks our protocol. Usage: node test.js <path-to-luvit> <examples/debug dir>
'use strict';
const assert = require('assert');
const path = require('path');
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const [luvit, dirArg] = process.argv.slice(2);
const dir = dirArg && path.resolve(dirArg);
if (!luvit || !dirArg) {
  console.error('usage: node test.js <luvit> <examples/debug>');
  process.exit(2);
}
const basics = path.join(dir, 'basics.lua');

async function withClient(fn) {
  const dc = new DebugClient(luvit, 'dap', 'luvit', {}, true);
  await dc.start();
  try {
    await fn(dc);
  } finally {
    await dc.stop();
  }
}

const cases = {
  async 'initialize advertises what works'(dc) {
    const r = await dc.initializeRequest();
    assert.strictEqual(r.body.supportsConfigurationDoneRequest, true);
    assert.strictEqual(r.body.supportsConditionalBreakpoints, true);
    assert.strictEqual(r.body.supportsLogPoints, true);
  },

  async 'a breakpoint in a function is hit with the right stack'(dc) {
    await dc.hitBreakpoint({ program: basics }, { path: basics, line: 7 });
    const st = await dc.stackTraceRequest({ threadId: 1 });
    assert.strictEqual(st.body.stackFrames[0].name, 'add');
    assert.strictEqual(st.body.stackFrames[1].line, 10);
    const scopes = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
    const vars = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
    const sum = vars.body.variables.find((v) => v.name === 'sum');
    assert.strictEqual(sum.value, '3');
  },

  async 'stop on entry, then run to the end with the output relayed'(dc) {
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program: basics, stopOnEntry: true }),
      dc.assertStoppedLocation('entry', { path: basics, line: 3 }),
    ]);
    await Promise.all([
      dc.continueRequest({ threadId: 1 }),
      dc.assertOutput('stdout', 'total\t3'),
      dc.waitForEvent('terminated'),
    ]);
  },

  async 'a conditional breakpoint stops only when its condition holds'(dc) {
    await Promise.all([
      dc.waitForEvent('initialized').then(() =>
        dc.setBreakpointsRequest({
          source: { path: basics },
          breakpoints: [{ line: 7, condition: 'sum > 5' }],
        })).then(() => dc.configurationDoneRequest()),
      dc.launch({ program: basics }),
      // add(1, 2) = 3 does not stop; add(3, 10) = 13 from the timer does
      dc.assertStoppedLocation('breakpoint', { path: basics, line: 7 }),
    ]);
    const st = await dc.stackTraceRequest({ threadId: 1 });
    const r = await dc.evaluateRequest({ expression: 'sum', frameId: st.body.stackFrames[0].id, context: 'watch' });
    assert.strictEqual(r.body.result, '13');
  },

  async 'unknown requests get an error response'(dc) {
    await dc.initializeRequest();
    await assert.rejects(dc.customRequest('noSuchRequest', {}));
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
setTimeout(() => { console.log('not ok - timed out'); process.exit(1); }, 60000).unref();

(async () => {
  let failed = 0;
  for (const [name, fn] of Object.entries(cases)) {
    if (process.env.CASE && !name.includes(process.env.CASE)) continue;
    try {
      await withClient(fn);
      console.log(`ok - ${name}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split('\n').join('\n  ')}`);
    }
  }
  finished = true;
  process.exit(failed ? 1 : 0);
})();
