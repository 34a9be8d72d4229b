// The runtime announces its debugger on stderr: `Debugger listening on ws://HOST:PORT/UUID`.

const LINE = /^\s*Debugger listening on (wss?:\/\/[^\s]+)\s*$/;

/** The websocket URL in one line of the program's stderr, or undefined if the line is
 *  something else (the program's own output, a warning). */
export function parseListeningLine(line: string): string | undefined {
  const m = LINE.exec(line.replace(/\r$/, ''));
  return m ? m[1] : undefined;
}

/** Splits a byte stream into lines (the last, unterminated piece stays buffered). */
export class LineSplitter {
  private rest = '';
  push(text: string): string[] {
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop() ?? '';
    return parts.map((l) => l + '\n');
  }
  /** What is left without a newline. */
  flush(): string {
    const r = this.rest;
    this.rest = '';
    return r;
  }
}
