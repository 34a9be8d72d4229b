// DAP's base protocol: each message is `Content-Length: N\r\n\r\n` followed by N bytes of
// UTF-8 JSON. The reader accepts any chunking of the byte stream (a header split across
// reads, several messages in one read, multi-byte characters cut in the middle).

export type Message = { seq: number; type: string; [key: string]: unknown };

const SEPARATOR = Buffer.from('\r\n\r\n', 'ascii');

export function encode(msg: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(msg), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

export class FramingError extends Error {}

export class MessageReader {
  private buf: Buffer = Buffer.alloc(0);

  /** Adds bytes; returns every message completed by them, in order. Throws FramingError on
   *  a header without a usable Content-Length or a body that is not JSON. */
  push(chunk: Buffer): Message[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Message[] = [];
    for (;;) {
      const end = this.buf.indexOf(SEPARATOR);
      if (end < 0) {
        if (this.buf.length > 64 * 1024) throw new FramingError('header too long (no blank line)');
        return out;
      }
      const header = this.buf.subarray(0, end).toString('ascii');
      let length = -1;
      for (const line of header.split('\r\n')) {
        const m = /^content-length:\s*(\d+)\s*$/i.exec(line);
        if (m) length = Number(m[1]);
      }
      if (length < 0) {
        this.buf = this.buf.subarray(end + SEPARATOR.length);
        throw new FramingError(`header without Content-Length: ${JSON.stringify(header)}`);
      }
      const start = end + SEPARATOR.length;
      if (this.buf.length < start + length) return out;
      const body = this.buf.subarray(start, start + length).toString('utf8');
      this.buf = this.buf.subarray(start + length);
      let msg: Message;
      try {
        msg = JSON.parse(body);
      } catch (e) {
        throw new FramingError(`body is not JSON: ${(e as Error).message}`);
      }
      out.push(msg);
    }
  }
}
