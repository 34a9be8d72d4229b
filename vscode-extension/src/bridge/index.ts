// What the bridge offers to its two entries (src/adapter.ts, src/extension.ts) and the unit tests.
export { encode, MessageReader, FramingError } from './framing';
export { parseListeningLine, LineSplitter } from './listening';
export { Bridge, CAPABILITIES, TIMEOUTS, findWebSocketUrl } from './bridge';
export type { BridgeOptions } from './bridge';
