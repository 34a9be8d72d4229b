// VS Code's side: registers the `luvit` debug type, fills in defaults, and runs the bridge in
// the extension host (no extra process) through a DebugAdapterInlineImplementation.
import * as vscode from 'vscode';
import { Bridge } from './bridge';

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
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory('luvit', new Factory()),
    vscode.debug.registerDebugConfigurationProvider('luvit', new Configurations()),
  );
}

export function deactivate(): void {}
