// The VS Code side of the profile commands: the `ProfileUi` they act through (messages,
// opening files, the status bar item), the loop report's webview, the report picker, and
// opening a site (`path:line`) a report links to.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { ProfileUi, renderLoopReport } from './profile';

/** The command a report's site links run (a `command:` URI with [file, line]). */
export const OPEN_SITE = 'luvit.openSite';
/** The status bar item's command. */
export const STOP_ALL = 'luvit.stopProfiles';

/** Opens `file` (absolute, or relative to a workspace folder) at `line`. */
export async function openSite(file: unknown, line: unknown): Promise<void> {
  if (typeof file !== 'string' || !file) return;
  let abs = file;
  if (!path.isAbsolute(file)) {
    const folders = vscode.workspace.workspaceFolders || [];
    abs = folders.map((f) => path.join(f.uri.fsPath, file)).find((p) => fs.existsSync(p)) || path.resolve(file);
  }
  const n = Math.max(1, Math.floor(Number(line)) || 1);
  try {
    const pos = new vscode.Position(n - 1, 0);
    await vscode.window.showTextDocument(vscode.Uri.file(abs), { selection: new vscode.Range(pos, pos), preview: true });
  } catch (e) {
    vscode.window.showErrorMessage(`Luvit: cannot open ${abs}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** One webview per report file, reused when the same file is shown again. */
class ReportViews {
  private readonly panels = new Map<string, vscode.WebviewPanel>();

  async show(file: string): Promise<void> {
    const text = await fs.promises.readFile(file, 'utf8');
    let report: unknown;
    try {
      report = JSON.parse(text);
    } catch (e) {
      throw new Error(`it is not JSON (${(e as Error).message})`);
    }
    const title = path.basename(file);
    let panel = this.panels.get(file);
    if (panel) {
      panel.reveal();
    } else {
      panel = vscode.window.createWebviewPanel('luvit.loopReport', `Loop: ${title}`, vscode.ViewColumn.Active, {
        enableScripts: false,
        enableCommandUris: [OPEN_SITE],
        localResourceRoots: [],
      });
      this.panels.set(file, panel);
      panel.onDidDispose(() => this.panels.delete(file));
    }
    panel.webview.html = renderLoopReport(report, {
      nonce: crypto.randomBytes(16).toString('base64'),
      cspSource: panel.webview.cspSource,
      title,
      openCommand: OPEN_SITE,
      displayPath: (f) => vscode.workspace.asRelativePath(f, false),
    });
  }
}

/** Lets the user choose a LOOP.*.json: the workspace's newest first, or a file dialog. */
async function pickLoopReport(): Promise<string | undefined> {
  const BROWSE = 'Browse…';
  const found = (await vscode.workspace.findFiles('**/LOOP.*.json', '**/node_modules/**', 200))
    .map((u) => u.fsPath)
    .filter((f) => !f.endsWith('.trace.json'))
    .map((f) => ({ f, t: fs.existsSync(f) ? fs.statSync(f).mtimeMs : 0 }))
    .sort((a, b) => b.t - a.t);
  let choice: string | undefined = BROWSE;
  if (found.length) {
    const items = [
      ...found.map(({ f }) => ({ label: path.basename(f), description: vscode.workspace.asRelativePath(f), file: f })),
      { label: BROWSE, description: 'choose a file', file: '' },
    ];
    const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Pick a loop report (LOOP.*.json)' });
    if (!picked) return undefined;
    choice = picked.file || BROWSE;
  }
  if (choice !== BROWSE) return choice;
  const uris = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: 'Show Loop Report',
    filters: { 'Loop report': ['json'] },
  });
  return uris && uris[0] ? uris[0].fsPath : undefined;
}

/** The ProfileUi over VS Code's API; `status` drives the given status bar item. */
export function vscodeProfileUi(item: vscode.StatusBarItem): ProfileUi {
  const views = new ReportViews();
  item.command = STOP_ALL;
  return {
    activeSession: () => vscode.debug.activeDebugSession,
    info: (message, ...actions) => vscode.window.showInformationMessage(message, ...actions),
    error: (message) => void vscode.window.showErrorMessage(message),
    openFile: (file) => vscode.commands.executeCommand('vscode.open', vscode.Uri.file(file)),
    openExternal: (file) => vscode.env.openExternal(vscode.Uri.file(file)),
    showLoopReport: (file) => views.show(file),
    pickLoopReport,
    status: (text, tooltip) => {
      if (text === undefined) {
        item.hide();
        return;
      }
      item.text = text;
      item.tooltip = tooltip;
      item.show();
    },
  };
}
