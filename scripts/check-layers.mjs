// The folder rule of docs/architecture.md ("Module map"), enforced: a module of src/ may import
// modules of its own layer or of the layers below it, never above. The layers are read from the
// map's table itself, so the documentation and the check cannot disagree; a folder or top-level
// file of src/ missing from the table is an error too.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const doc = readFileSync(path.join(root, 'docs/architecture.md'), 'utf8');
const section = doc
  .split('### Module map')[1]
  ?.split('\n\n')
  .find((p) => p.startsWith('|'));
if (!section) throw new Error('docs/architecture.md has no "Module map" table');

/** Layer of each folder (`cron`) or top-level file (`errors.ts`) of src/. */
const layers = new Map();
for (const row of section.split('\n').slice(2)) {
  const [, layer, names] = row.split('|').map((c) => c.trim());
  for (const [, name] of names.matchAll(/`([^`]+)`/g))
    layers.set(name.replace(/\/$/, ''), Number(layer));
}

const unit = (file) => (file.includes('/') ? file.split('/')[0] : file);
const problems = [];
for (const entry of readdirSync(path.join(root, 'src'), { withFileTypes: true })) {
  const name = entry.isDirectory() ? entry.name : entry.name.endsWith('.ts') ? entry.name : null;
  if (name && !layers.has(name)) problems.push(`src/${name} is not in the module map`);
}
const graph = (
  await madge(path.join(root, 'src'), {
    fileExtensions: ['ts'],
    tsConfig: path.join(root, 'tsconfig.json'),
  })
).obj();
for (const [from, deps] of Object.entries(graph)) {
  const a = layers.get(unit(from));
  for (const to of deps) {
    const b = layers.get(unit(to));
    if (a !== undefined && b !== undefined && b < a)
      problems.push(`src/${from} (layer ${a}) imports src/${to} (layer ${b}, above it)`);
  }
}
if (problems.length > 0) {
  console.error(`module map (docs/architecture.md) violated:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `module map holds: ${Object.keys(graph).length} modules, ${layers.size} folders and files`,
);
