// What a launch in the editor's terminal (`console: "integratedTerminal"`, the DAP
// `runInTerminal` reverse request) needs besides the request itself: a free port for the
// program's debugger (the adapter cannot read the program's stderr there, so it picks the
// port and asks /json/list), a look-up of the runtime before the editor's terminal would say
// "command not found", and whether the terminal's process is still there.

import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';

/** A port on 127.0.0.1 that was free a moment ago (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = addr && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('no free port on 127.0.0.1'))));
    });
  });
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The file `exe` names: itself when it holds a path separator (relative to `cwd`), else the
 *  first match on PATH; undefined when there is none. */
export function findExecutable(exe: string, cwd: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (exe.includes('/') || exe.includes(path.sep)) {
    const file = path.resolve(cwd || process.cwd(), exe);
    return isExecutable(file) ? file : undefined;
  }
  const exts = process.platform === 'win32' ? (env.PATHEXT || '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (env.PATH || env.Path || '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const file = path.join(dir, exe + ext);
      if (isExecutable(file)) return file;
    }
  }
  return undefined;
}

/** True once process `pid` is gone (or was never ours to see). */
export function terminalPidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
