// 1,000,000 chained setImmediate callbacks; prints elapsed milliseconds.
const N = Number(process.argv[2] || 1000000);
let n = 0;
const t0 = process.hrtime.bigint();
function step() {
  if (++n < N) return setImmediate(step);
  console.log((Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1));
}
setImmediate(step);
