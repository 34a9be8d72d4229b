// Unit tests of the bridge's pieces that need no program: DAP framing and the parser of the
// runtime's "Debugger listening on ..." line. Run after `npm run build` (uses out/bridge.js).
'use strict';
const assert = require('assert');
const path = require('path');
const { encode, MessageReader, FramingError, parseListeningLine, LineSplitter } = require(path.join(__dirname, '..', 'out', 'bridge.js'));

const cases = {
  'encode counts bytes, not characters'() {
    const buf = encode({ seq: 1, type: 'event', event: 'output', body: { output: 'héllo ✓' } });
    const text = buf.toString('utf8');
    const m = /^Content-Length: (\d+)\r\n\r\n/.exec(text);
    assert.ok(m, text);
    const body = buf.subarray(Buffer.byteLength(m[0]));
    assert.strictEqual(Number(m[1]), body.length);
    assert.notStrictEqual(body.length, body.toString('utf8').length); // multi-byte really present
  },

  'a message split at every byte offset is read once, intact'() {
    const msg = { seq: 7, type: 'request', command: 'evaluate', arguments: { expression: 'ünïcode "q"\n' } };
    const buf = encode(msg);
    for (let i = 0; i <= buf.length; i++) {
      const r = new MessageReader();
      const got = [...r.push(buf.subarray(0, i)), ...r.push(buf.subarray(i))];
      assert.deepStrictEqual(got, [msg], `split at ${i}`);
    }
  },

  'several messages in one chunk, and byte-at-a-time'() {
    const msgs = [1, 2, 3].map((n) => ({ seq: n, type: 'event', event: 'e' + n }));
    const all = Buffer.concat(msgs.map(encode));
    assert.deepStrictEqual(new MessageReader().push(all), msgs);
    const r = new MessageReader();
    const got = [];
    for (const b of all) got.push(...r.push(Buffer.from([b])));
    assert.deepStrictEqual(got, msgs);
  },

  'extra headers and lower-case names are accepted'() {
    const body = '{"seq":1,"type":"request","command":"x"}';
    const raw = `Content-Type: application/vscode-jsonrpc\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    assert.deepStrictEqual(new MessageReader().push(Buffer.from(raw)), [JSON.parse(body)]);
  },

  'a header without Content-Length or a non-JSON body is an error, and reading goes on'() {
    const r = new MessageReader();
    assert.throws(() => r.push(Buffer.from('Foo: 1\r\n\r\n')), FramingError);
    assert.throws(() => r.push(Buffer.from('Content-Length: 3\r\n\r\nabc')), FramingError);
    assert.deepStrictEqual(r.push(encode({ seq: 2, type: 'event', event: 'ok' })), [{ seq: 2, type: 'event', event: 'ok' }]);
  },

  'the listening line gives the websocket URL'() {
    const url = 'ws://127.0.0.1:40123/6f1c2a9e-3b1d-4c7e-9a55-0d2f3e4b5c6d';
    assert.strictEqual(parseListeningLine(`Debugger listening on ${url}\n`), url);
    assert.strictEqual(parseListeningLine(`Debugger listening on ${url}\r\n`), url);
    assert.strictEqual(parseListeningLine(`Debugger listening on ${url}`), url);
    assert.strictEqual(parseListeningLine('Debugger listening on ws://[::1]:9229/abc\n'), 'ws://[::1]:9229/abc');
  },

  'other stderr lines are not the listening line'() {
    for (const line of [
      'Warning: the debugger listens on 0.0.0.0, which other machines can reach\n',
      'print: Debugger listening on ws://127.0.0.1:1/x\n', // the program printing it, mid-line
      'Debugger listening on tcp://127.0.0.1:4000\n', // the TCP transport, not ours
      'Debugger listening on\n',
      '',
    ]) {
      assert.strictEqual(parseListeningLine(line), undefined, JSON.stringify(line));
    }
  },

  'stderr chunks are split into whole lines'() {
    const s = new LineSplitter();
    assert.deepStrictEqual(s.push('one\ntw'), ['one\n']);
    assert.deepStrictEqual(s.push('o\nDebugger listening on ws://h:1/'), ['two\n']);
    assert.deepStrictEqual(s.push('u\n'), ['Debugger listening on ws://h:1/u\n']);
    assert.strictEqual(parseListeningLine('Debugger listening on ws://h:1/u\n'), 'ws://h:1/u');
    assert.deepStrictEqual(s.push('tail'), []);
    assert.strictEqual(s.flush(), 'tail');
  },
};

let failed = 0;
for (const [name, fn] of Object.entries(cases)) {
  try {
    fn();
    console.log(`ok - unit: ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - unit: ${name}\n  ${String((e && e.stack) || e).split('\n').join('\n  ')}`);
  }
}
process.exit(failed ? 1 : 0);
