// A stand-alone debug adapter: DAP with Content-Length framing on stdin/stdout, relayed to a
// luvit program's debugger. For editors that start an adapter process (nvim-dap, Helix,
// Emacs) and for the tests. `LUVIT_RUNTIME` names the runtime when a launch gives none.
import { Bridge, encode, MessageReader, FramingError } from './bridge';

import * as fs from 'fs';

// LUVIT_DAP_LOG=FILE appends every message passed, for debugging editor set-ups.
const logFile = process.env.LUVIT_DAP_LOG;
function trace(dir: string, msg: unknown) {
  if (logFile) fs.appendFileSync(logFile, `${dir} ${JSON.stringify(msg)}\n`);
}

const reader = new MessageReader();
let closing = false;

const bridge = new Bridge(
  (msg) => {
    trace('out', msg);
    process.stdout.write(encode(msg));
  },
  {
    runtimeExecutable: process.env.LUVIT_RUNTIME || 'luvit',
    runtimeHint: 'set "runtimeExecutable" in the launch configuration, or LUVIT_RUNTIME',
  },
  () => {
    closing = true;
    // Let the last response reach the editor, then leave.
    process.stdout.write('', () => process.exit(0));
  },
);

process.stdin.on('data', (chunk: Buffer) => {
  if (closing) return;
  let msgs;
  try {
    msgs = reader.push(chunk);
  } catch (e) {
    if (e instanceof FramingError) {
      process.stderr.write(`luvit adapter: ${e.message}\n`);
      return;
    }
    throw e;
  }
  for (const m of msgs) {
    trace('in', m);
    bridge.handle(m);
  }
});
process.stdin.on('end', () => {
  bridge.dispose();
});

// An editor that kills the adapter must not leave a launched program behind.
process.on('exit', () => bridge.killProgram());
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => process.exit(0));
