export { encode, MessageReader, FramingError } from './framing';
export { parseListeningLine, LineSplitter } from './listening';
export { Bridge, CAPABILITIES, TIMEOUTS, findWebSocketUrl } from './bridge';
export type { BridgeOptions } from './bridge';
