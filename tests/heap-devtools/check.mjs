// Reads two luvit .heapsnapshot files with Chrome DevTools' own snapshot loader and comparison
// (heap-snapshot-toolkit re-exports devtools-frontend's HeapSnapshotWorker code) and prints, as
// JSON, what the Memory panel would show: statistics, the summary by class, and the comparison.
// Usage: node check.mjs A.heapsnapshot B.heapsnapshot
import { createReadStream } from 'node:fs'
import { parse, diff } from 'heap-snapshot-toolkit'

const [a, b] = process.argv.slice(2)
const A = await parse(createReadStream(a, 'utf-8'))
const B = await parse(createReadStream(b, 'utf-8'))
const summary = Object.values(B.aggregatesWithFilter({}))
  .map(g => ({ name: g.name, count: g.count, self: g.self, distance: g.distance }))
  .sort((x, y) => y.self - x.self)
const comparison = Object.values(await diff(A, B))
  .map(d => ({ name: d.name, added: d.addedCount, removed: d.removedCount, sizeDelta: d.sizeDelta }))
  .sort((x, y) => y.sizeDelta - x.sizeDelta)
console.log(JSON.stringify({ statistics: B.getStatistics(), summary, comparison }))
