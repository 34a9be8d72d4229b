// The editor-side logic with no `vscode` import (profile commands, loop report renderer,
// attach picker), bundled on its own as out/ui.js for the tests.
export * from './profile';
export { chooseTarget, attachPortsToScan } from './attach';
export type { AttachItem, AttachUi } from './attach';
