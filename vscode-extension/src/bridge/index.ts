// What the bridge offers to its two entries (src/adapter.ts, src/extension.ts) and the unit tests.
export { encode, MessageReader, FramingError } from './framing';
export { parseListeningLine, LineSplitter } from './listening';
export { Bridge, CAPABILITIES, TIMEOUTS } from './bridge';
export { findWebSocketUrl, discoverPrograms, listTargets, waitForProgram, portList } from './discovery';
export type { Target } from './discovery';
export { freePort, findExecutable } from './terminal';
export type { BridgeOptions } from './bridge';
