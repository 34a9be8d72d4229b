// VS Code's side: registers the `luvit` debug type, fills in defaults (and picks the program
// of an attach with neither port nor URL), runs the bridge in the extension host (no extra
// process) through a DebugAdapterInlineImplementation, and registers the profile commands.
import * as vscode from 'vscode';
import { Bridge } from './bridge';
import { attachPortsToScan, chooseTarget } from './attach';
import { ProfileCommands } from './profile';
import { OPEN_SITE, STOP_ALL, openSite, vscodeProfileUi } from './editorUi';

class InlineAdapter implements vscode.DebugAdapter {
  private readonly emitter = new vscode.EventEmitter<vscode.DebugProtocolMessage>();
  readonly onDidSendMessage = this.emitter.event;
  private readonly bridge: Bridge;

  constructor(runtimeExecutable: string) {
    this.bridge = new Bridge((msg) => this.emitter.fire(msg as vscode.DebugProtocolMessage), {
      runtimeExecutable,
      runtimeHint: 'change the "luvit.runtimeExecutable" setting or "runtimeExecutable" in launch.json',
    });
  }

  handleMessage(message: vscode.DebugProtocolMessage): void {
    this.bridge.handle(message as { [key: string]: unknown });
  }

  dispose(): void {
    this.bridge.dispose();
    this.emitter.dispose();
  }
}

function runtimeSetting(): string {
  return vscode.workspace.getConfiguration('luvit').get<string>('runtimeExecutable') || 'luvit';
}

class Factory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    return new vscode.DebugAdapterInlineImplementation(new InlineAdapter(runtimeSetting()));
  }
}

class Configurations implements vscode.DebugConfigurationProvider {
  async resolveDebugConfigurationWithSubstitutedVariables(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    if (config.request !== 'attach' || config.url || (config.port !== undefined && config.port !== null && config.port !== '')) {
      return config;
    }
    // Neither port nor URL: let the user pick among the programs serving the debugger.
    let ports: number[];
    try {
      ports = attachPortsToScan(config.attachPorts, vscode.workspace.getConfiguration('luvit').get('attachPorts'));
    } catch (e) {
      vscode.window.showErrorMessage(`Luvit: ${(e as Error).message}`);
      return undefined;
    }
    const host = typeof config.host === 'string' && config.host ? config.host : '127.0.0.1';
    const url = await chooseTarget(host, ports, {
      pick: (items, placeHolder) => vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true, matchOnDetail: true }),
      error: (message) => void vscode.window.showErrorMessage(message),
    });
    if (!url) return undefined; // told the user, or cancelled: no session
    return { ...config, url };
  }

  resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): vscode.ProviderResult<vscode.DebugConfiguration> {
    // F5 with no launch.json: run the open Lua file.
    if (!config.type && !config.request && !config.name) {
      const editor = vscode.window.activeTextEditor;
      if (editor && editor.document.languageId === 'lua') {
        config.type = 'luvit';
        config.name = 'Launch current file';
        config.request = 'launch';
        config.program = editor.document.fileName;
      }
    }
    if (config.request === 'launch' && !config.program) {
      return vscode.window.showErrorMessage('luvit: the launch configuration needs "program"').then(() => undefined);
    }
    if (config.request === 'launch' && !config.runtimeExecutable) config.runtimeExecutable = runtimeSetting();
    return config;
  }
}

export function activate(context: vscode.ExtensionContext): void {
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  status.name = 'Luvit profile';
  const profile = new ProfileCommands(vscodeProfileUi(status));
  const command = (id: string, fn: (...args: any[]) => unknown) => vscode.commands.registerCommand(id, fn);
  context.subscriptions.push(
    status,
    vscode.debug.registerDebugAdapterDescriptorFactory('luvit', new Factory()),
    vscode.debug.registerDebugConfigurationProvider('luvit', new Configurations()),
    vscode.debug.onDidTerminateDebugSession((s) => profile.sessionEnded(s.id)),
    command('luvit.startCpuProfile', () => profile.start('cpu')),
    command('luvit.stopCpuProfile', () => profile.stop('cpu')),
    command('luvit.startLoopProfile', () => profile.start('loop')),
    command('luvit.stopLoopProfile', () => profile.stop('loop')),
    command('luvit.takeHeapSnapshot', () => profile.heapSnapshot()),
    command('luvit.showLoopReport', (uri?: vscode.Uri) => profile.showLoopReport(uri instanceof vscode.Uri ? uri.fsPath : undefined)),
    command(STOP_ALL, () => profile.stopAll()),
    command(OPEN_SITE, (file: unknown, line: unknown) => openSite(file, line)),
  );
}

export function deactivate(): void {}
