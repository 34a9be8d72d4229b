// The attach picker: an `attach` configuration with neither "port" nor "url" lists the
// luvit programs serving the debugger (their /json/list on 127.0.0.1:9229 and the ports of
// the `luvit.attachPorts` setting) for the user to pick one. The editor is reached through
// `AttachUi` (VS Code's quick pick in the extension, a recorder in the tests).

import { discoverPrograms, portList, Target } from './bridge';

export interface AttachItem {
  label: string;
  description: string;
  detail: string;
  target: Target;
}

export interface AttachUi {
  pick(items: AttachItem[], placeHolder: string): PromiseLike<AttachItem | undefined>;
  error(message: string): void;
}

/** The ports to ask: the configuration's "attachPorts" when it has some, else 9229 and the
 *  setting's. Throws on a list that holds something other than port numbers. */
export function attachPortsToScan(configPorts: unknown, settingPorts: unknown): number[] {
  const own = portList(configPorts, 'attachPorts');
  if (own.length) return own;
  return [...new Set([9229, ...portList(settingPorts, 'luvit.attachPorts')])];
}

/** Finds the programs and lets the user choose; the chosen program's websocket URL, or
 *  undefined (nothing found, told to the user; or the pick cancelled). */
export async function chooseTarget(host: string, ports: number[], ui: AttachUi, ms = 1500): Promise<string | undefined> {
  const found = await discoverPrograms(host, ports, ms);
  if (!found.length) {
    ui.error(`Luvit: no luvit --inspect program found on ${host} port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}. ` +
      `Start one with 'luvit --inspect app.lua', set "port" or "url" in launch.json, or add its port to the luvit.attachPorts setting.`);
    return undefined;
  }
  const items: AttachItem[] = found.map((t) => ({
    label: t.title ? t.title.split(/[\\/]/).pop() || t.title : `port ${t.port}`,
    description: `${t.host}:${t.port}`,
    detail: `${t.title}  ${t.url}`,
    target: t,
  }));
  const chosen = await ui.pick(items, 'Pick the luvit program to attach to');
  return chosen?.target.url;
}
