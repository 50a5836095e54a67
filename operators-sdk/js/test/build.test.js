import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { BuildError, build, defaultOutput, findEntry, witDir } from '../src/build.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'weir-operator-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function project(name, files) {
  const dir = path.join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

const OPERATOR = `
import { defineOperator } from 'weir-operator';
import { shout } from './lib/shout.ts';
export default defineOperator({
  open: (ctx) => ctx.inputSchema,
  process: (record, emit) => emit({ line: shout(record.line) }),
});
`;

describe('projects', () => {
  test('the entry is package.json main, else a conventional name', () => {
    const withMain = project('with-main', { 'package.json': '{"name": "@acme/upper", "main": "src/op.js"}', 'src/op.js': '' });
    assert.equal(findEntry(withMain), path.join(withMain, 'src/op.js'));
    assert.equal(defaultOutput(withMain), path.join(withMain, 'upper.wasm'));
    const plain = project('plain', { 'operator.ts': '' });
    assert.equal(findEntry(plain), path.join(plain, 'operator.ts'));
    assert.equal(defaultOutput(plain), path.join(plain, 'plain.wasm'));
    assert.throws(() => findEntry(project('empty', {})), (e) => e instanceof BuildError && /no operator module found/.test(e.message));
    const broken = project('broken-main', { 'package.json': '{"main": "gone.js"}' });
    assert.throws(() => findEntry(broken), /main 'gone.js' does not exist/);
  });

  test('the WIT contract is found', () => {
    assert.match(readFileSync(path.join(witDir(), 'operator.wit'), 'utf8'), /package weir:operator@0\.1\.0;/);
  });
});

describe('building', () => {
  test('writes a component where -o says, bundling TypeScript and relative imports', async () => {
    const dir = project('upper', {
      'index.js': OPERATOR,
      'lib/shout.ts': 'export const shout = (s: string | null): string | null => s === null ? null : s.toUpperCase();\n',
    });
    const out = path.join(scratch, 'out', 'nested', 'upper.wasm');
    const result = await build(dir, { output: out });
    assert.equal(result.output, out);
    const bytes = readFileSync(out);
    assert.equal(bytes.length, result.bytes);
    // A component, not a core module: magic, then version 0x0d and layer 1.
    assert.deepEqual([...bytes.subarray(0, 8)], [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
  });

  test('reports an operator that is not one, when its top level runs', async () => {
    const dir = project('no-open', {
      'index.js': "import { defineOperator } from 'weir-operator';\nexport default defineOperator({ process() {} });\n",
    });
    await assert.rejects(build(dir, { output: path.join(scratch, 'x.wasm') }), (e) => e instanceof BuildError && /needs an open\(ctx\) method/.test(e.message));
  });

  test('reports imports that cannot be bundled, with their place', async () => {
    const dir = project('bad-import', { 'index.js': "import fs from 'node:fs';\nimport './missing.js';\n" });
    await assert.rejects(build(dir, { output: path.join(scratch, 'y.wasm') }), (e) => e instanceof BuildError && /index\.js:2:\d+: Could not resolve "\.\/missing\.js"/.test(e.message));
  });
});
