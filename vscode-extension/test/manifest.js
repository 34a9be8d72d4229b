// The manifest against the code, without VS Code (it cannot run here): out/extension.js is
// loaded with a stand-in for the `vscode` module that only records what activate() registers,
// and every command package.json contributes (palette, menus, status bar) must be one of them.
'use strict';
const assert = require('assert');
const Module = require('module');
const path = require('path');

const manifest = require(path.join(__dirname, '..', 'package.json'));
const registered = { commands: [], factories: [], providers: [], statusItems: [] };
const disposable = { dispose() {} };
const stub = {
  StatusBarAlignment: { Left: 1, Right: 2 },
  window: {
    createStatusBarItem: () => {
      const item = { show() {}, hide() {}, dispose() {} };
      registered.statusItems.push(item);
      return item;
    },
  },
  commands: { registerCommand: (id) => (registered.commands.push(id), disposable) },
  debug: {
    registerDebugAdapterDescriptorFactory: (type) => (registered.factories.push(type), disposable),
    registerDebugConfigurationProvider: (type) => (registered.providers.push(type), disposable),
    onDidTerminateDebugSession: () => disposable,
  },
  Uri: class {},
  EventEmitter: class { constructor() { this.event = () => disposable; } fire() {} dispose() {} },
  DebugAdapterInlineImplementation: class {},
};
const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'vscode' ? stub : load.call(this, request, ...rest);
};

let failed = 0;
function check(name, fn) {
  try {
    fn();
    console.log(`ok - manifest: ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - manifest: ${name}\n  ${String((e && e.stack) || e).split('\n').join('\n  ')}`);
  }
}

const ext = require(path.join(__dirname, '..', 'out', 'extension.js'));
const context = { subscriptions: [] };
ext.activate(context);

check('activate registers the luvit debug type and every contributed command', () => {
  assert.deepStrictEqual(registered.factories, ['luvit']);
  assert.deepStrictEqual(registered.providers, ['luvit']);
  const contributed = manifest.contributes.commands.map((c) => c.command).sort();
  assert.deepStrictEqual([...registered.commands].sort(), contributed);
  assert.ok(context.subscriptions.length >= contributed.length + 3, 'the registrations are disposed with the extension');
});

check('menus and the status item name contributed commands', () => {
  const ids = new Set(manifest.contributes.commands.map((c) => c.command));
  for (const [where, items] of Object.entries(manifest.contributes.menus)) {
    for (const item of items) assert.ok(ids.has(item.command), `${where}: ${item.command}`);
  }
  assert.strictEqual(registered.statusItems.length, 1);
  assert.ok(ids.has(registered.statusItems[0].command), `status item runs ${registered.statusItems[0].command}`);
});

check('the version is the same in package.json, the lockfile and the CHANGELOG', () => {
  const lock = require(path.join(__dirname, '..', 'package-lock.json'));
  assert.strictEqual(lock.version, manifest.version);
  const changelog = require('fs').readFileSync(path.join(__dirname, '..', 'CHANGELOG.md'), 'utf8');
  assert.ok(changelog.includes(`## ${manifest.version}`), `no "## ${manifest.version}" in CHANGELOG.md`);
});

process.exit(failed ? 1 : 0);
