// Times @node-rs/argon2 verifying one argon2id hash ROUNDS times on one
// thread, at the cost given on the command line, and prints the mean in ms on
// the last line (read by bench/argon2.sh).
//   node bench/argon2-node.mjs MEMORY_KIB ITERATIONS PARALLELISM ROUNDS
import { createRequire } from 'node:module';

const require = createRequire(process.env.NODE_RS_ARGON2_DIR + '/');
const { hashSync, verifySync, Algorithm } = require('@node-rs/argon2');
const [memoryCost, timeCost, parallelism, rounds] = process.argv.slice(2).map(Number);
const stored = hashSync('benchmark password', {
  algorithm: Algorithm.Argon2id, memoryCost, timeCost, parallelism,
});
verifySync(stored, 'benchmark password'); // warm-up: the first run maps the memory
const started = process.hrtime.bigint();
for (let i = 0; i < rounds; i++) {
  if (!verifySync(stored, 'benchmark password')) throw new Error('the password did not verify');
}
const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
console.log((elapsedMs / rounds).toFixed(3));
