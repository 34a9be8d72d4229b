// N chained setTimeout(0) callbacks; prints elapsed milliseconds (node clamps 0 to 1 ms).
const N = Number(process.argv[2] || 1000);
let n = 0;
const t0 = process.hrtime.bigint();
function step() {
  if (++n < N) return setTimeout(step, 0);
  console.log((Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1));
}
setTimeout(step, 0);
