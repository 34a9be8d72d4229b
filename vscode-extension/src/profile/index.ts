// What the profile side offers to src/extension.ts.
export { renderLoopReport, escapeHtml, parseSite, openable } from './report';
export type { RenderOptions } from './report';
export { ProfileCommands, NO_SESSION, OPEN_FLAME_GRAPH, OPEN_SNAPSHOT } from './commands';
export type { Profiler, ProfileSession, ProfileUi } from './commands';
