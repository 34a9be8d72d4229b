// JSON.parse and JSON.stringify of a ~5 MB document; prints "parse_ms stringify_ms bytes".
const items = [];
for (let i = 1; i <= 40000; i++) {
  items.push({ id: i, name: 'item number ' + i, price: i * 1.25, tags: ['a', 'b', 'c'],
    active: i % 2 === 0, nested: { x: i, y: -i, label: 'nested "quoted" text' } });
}
const text = JSON.stringify({ items, count: items.length });
let bestP = Infinity, bestS = Infinity;
for (let r = 0; r < 5; r++) {
  const t0 = process.hrtime.bigint();
  const doc = JSON.parse(text);
  const t1 = process.hrtime.bigint();
  const out = JSON.stringify(doc);
  const t2 = process.hrtime.bigint();
  if (!out.length) throw new Error('empty');
  bestP = Math.min(bestP, Number(t1 - t0) / 1e6);
  bestS = Math.min(bestS, Number(t2 - t1) / 1e6);
}
console.log(`${bestP.toFixed(1)} ${bestS.toFixed(1)} ${text.length}`);
