import { transpiledSources } from '../dev/transpiled.js';
let t = performance.now();
const d = await transpiledSources();
console.log(d, performance.now() - t);
t = performance.now();
await transpiledSources();
console.log('hit', performance.now() - t);
