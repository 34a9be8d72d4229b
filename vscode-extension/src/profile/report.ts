// The loop profiler's report (LOOP.*.json, written by `luvit --loop-prof` or the
// "Stop Loop Profile" command) as one HTML page for a webview: utilization, lag, the
// callbacks table, the slow callbacks with their summary, hot functions and stack. Pure: no
// `vscode` import, every value from the file escaped, no scripts (links are command URIs).

type Json = { [key: string]: any };

export interface RenderOptions {
  /** The nonce of the page's one <style> element (the CSP allows nothing else). */
  nonce: string;
  /** The webview's `cspSource` (images it may load; none today). */
  cspSource: string;
  /** The page heading, e.g. the report's file name. */
  title: string;
  /** The command a site link runs with [file, line] (a `command:` URI). */
  openCommand: string;
  /** How a file is shown (e.g. relative to the workspace); the link keeps the real path. */
  displayPath?: (file: string) => string;
}

/** HTML-escapes any value's text (also for attributes: quotes included). */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `path:line` → its parts, when `path` names a file an editor can open (not `=json`,
 *  `[C]`, `builtin:timer.lua`). */
export function parseSite(site: unknown): { file: string; line: number } | undefined {
  if (typeof site !== 'string') return undefined;
  const m = /^(.+):(\d+)$/.exec(site);
  if (!m) return undefined;
  return openable(m[1]) ? { file: m[1], line: Number(m[2]) } : undefined;
}

/** Whether a frame's `source` is a file on disk rather than a chunk name. */
export function openable(source: unknown): source is string {
  if (typeof source !== 'string' || !source) return false;
  if (/^[=[@?]/.test(source)) return false;
  // `builtin:x.lua` and other schemes, but keep Windows drive letters (C:\...)
  if (/^[A-Za-z][A-Za-z0-9+.-]+:/.test(source)) return false;
  return true;
}

function num(v: unknown, digits = 1): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
}

function int(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? String(Math.round(v)) : '–';
}

function percent(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '–';
}

function list(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter((x) => x && typeof x === 'object') : [];
}

function link(o: RenderOptions, text: string, file: string, line: number): string {
  const args = encodeURIComponent(JSON.stringify([file, line]));
  return `<a href="${escapeHtml(`command:${o.openCommand}?${args}`)}" title="${escapeHtml(`open ${file}:${line}`)}">${escapeHtml(text)}</a>`;
}

function shown(o: RenderOptions, file: string): string {
  return o.displayPath ? o.displayPath(file) : file;
}

function siteCell(o: RenderOptions, site: unknown): string {
  const s = parseSite(site);
  return s ? link(o, `${shown(o, s.file)}:${s.line}`, s.file, s.line) : escapeHtml(site ?? '');
}

function frameCell(o: RenderOptions, f: Json): string {
  const line = Number(f.line);
  const file = openable(f.source) ? shown(o, f.source) : String(f.source ?? '');
  const where = Number.isFinite(line) && line > 0 ? `${file}:${line}` : file;
  const text = `${f.name ?? '?'}  ${where}`;
  return openable(f.source) && Number.isInteger(line) && line > 0 ? link(o, text, f.source, line) : escapeHtml(text);
}

/** A line of heap samples ([ms, kb] pairs) as an inline SVG (numbers only). */
function heapChart(samples: unknown): string {
  const pts = (Array.isArray(samples) ? samples : [])
    .filter((p) => Array.isArray(p) && typeof p[0] === 'number' && typeof p[1] === 'number' && Number.isFinite(p[0]) && Number.isFinite(p[1]))
    .map((p) => [p[0] as number, p[1] as number]);
  if (pts.length < 2) return '';
  const w = 400;
  const h = 60;
  const x0 = pts[0][0];
  const dx = Math.max(1e-9, pts[pts.length - 1][0] - x0);
  const ymax = Math.max(1e-9, ...pts.map((p) => p[1]));
  const coords = pts.map((p) => `${(((p[0] - x0) / dx) * w).toFixed(1)},${(h - (p[1] / ymax) * h).toFixed(1)}`).join(' ');
  return `<svg class="chart" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="heap over time"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${coords}"/></svg>`;
}

const STYLE = `
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1em 2em; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .4em 0; }
th, td { text-align: left; padding: .2em .7em; border-bottom: 1px solid var(--vscode-panel-border, #8884); vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5em; }
.figure b { display: block; font-size: 1.4em; }
.slow { border-left: 3px solid var(--vscode-editorWarning-foreground, #c90); padding-left: .8em; margin: 1em 0; }
.summary { font-style: italic; }
ol.stack { font-family: var(--vscode-editor-font-family); margin: .3em 0; }
.muted { opacity: .7; }
a { color: var(--vscode-textLink-foreground); }
`;

/** The whole page. Throws on something that is not a report object. */
export function renderLoopReport(report: unknown, o: RenderOptions): string {
  if (!report || typeof report !== 'object' || Array.isArray(report)) {
    throw new Error('not a loop report: expected the JSON object of a LOOP.*.json file');
  }
  const r = report as Json;
  const lag: Json = r.lag && typeof r.lag === 'object' ? r.lag : {};
  const heap: Json = r.heap && typeof r.heap === 'object' ? r.heap : {};
  const out: string[] = [];
  out.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">`);
  out.push(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${escapeHtml(o.nonce)}'; img-src ${escapeHtml(o.cspSource)} data:;">`);
  out.push(`<meta name="viewport" content="width=device-width, initial-scale=1.0">`);
  out.push(`<title>${escapeHtml(o.title)}</title><style nonce="${escapeHtml(o.nonce)}">${STYLE}</style></head><body>`);
  out.push(`<h1>Loop report: ${escapeHtml(o.title)}</h1>`);

  out.push(`<div class="figures">`);
  const figure = (label: string, value: string) => out.push(`<div class="figure"><b>${escapeHtml(value)}</b>${escapeHtml(label)}</div>`);
  figure('loop utilization', percent(r.utilization));
  figure('recorded (ms)', num(r.duration_ms));
  figure(`lag p50 / p99 (ms)`, `${num(lag.p50_ms)} / ${num(lag.p99_ms)}`);
  figure('lag max / mean (ms)', `${num(lag.max_ms)} / ${num(lag.mean_ms)}`);
  figure('lag samples', int(lag.count));
  figure(`callbacks over ${num(r.threshold_ms, 0)} ms`, int(r.slow_count));
  if (typeof heap.max_kb === 'number') figure('heap max (KB)', int(heap.max_kb));
  out.push(`</div>`);
  const chart = heapChart(heap.samples);
  if (chart) out.push(`<h2>Lua heap</h2>${chart}`);

  const callbacks = list(r.callbacks);
  out.push(`<h2>Callbacks by total time (${callbacks.length})</h2>`);
  if (callbacks.length) {
    out.push(`<table><thead><tr><th>kind</th><th>registered at</th><th>function</th><th class="n">count</th><th class="n">total ms</th><th class="n">p99 ms</th><th class="n">max ms</th></tr></thead><tbody>`);
    for (const c of callbacks) {
      out.push(`<tr><td>${escapeHtml(c.kind)}</td><td>${siteCell(o, c.site)}</td><td>${siteCell(o, c.function)}</td>` +
        `<td class="n">${int(c.count)}</td><td class="n">${num(c.total_ms, 2)}</td><td class="n">${num(c.p99_ms, 2)}</td><td class="n">${num(c.max_ms, 2)}</td></tr>`);
    }
    out.push(`</tbody></table>`);
  } else {
    out.push(`<p class="muted">No callback ran while the profiler recorded.</p>`);
  }

  const slow = list(r.slow);
  out.push(`<h2>Slow callbacks (over ${num(r.threshold_ms, 0)} ms): ${int(r.slow_count ?? slow.length)}</h2>`);
  if (!slow.length) out.push(`<p class="muted">None.</p>`);
  for (const s of slow) {
    const fn = s.function !== undefined && s.function !== s.site ? ` (function ${siteCell(o, s.function)})` : '';
    out.push(`<div class="slow"><p><b>${num(s.duration_ms)} ms</b> in ${escapeHtml(s.kind)} registered at ${siteCell(o, s.site)}` +
      `${fn}, ${num(s.at_ms)} ms after the start, ${int(s.samples)} samples</p>`);
    if (s.summary) out.push(`<p class="summary">${escapeHtml(s.summary)}</p>`);
    const hot = list(s.hot);
    if (hot.length) {
      out.push(`<table><thead><tr><th>hot function</th><th>source</th><th class="n">share</th></tr></thead><tbody>`);
      for (const h of hot) {
        const src = openable(h.source) ? shown(o, h.source) : h.source;
        out.push(`<tr><td>${escapeHtml(h.name)}</td><td>${escapeHtml(src)}</td><td class="n">${percent(h.share)}</td></tr>`);
      }
      out.push(`</tbody></table>`);
    }
    const stack = list(s.stack);
    if (stack.length) {
      out.push(`<ol class="stack">`);
      for (const f of stack) out.push(`<li>${frameCell(o, f)}</li>`);
      out.push(`</ol>`);
    }
    out.push(`</div>`);
  }
  out.push(`</body></html>`);
  return out.join('\n');
}
