/* eslint-disable @typescript-eslint/no-explicit-any -- parsed manifests, shapes checked by the assertions */
// The image, the compose file and the Kubernetes manifests cannot run here (no Docker engine), so
// they are checked against the code they drive: every command and flag they use exists, every
// BATON_* variable they set is one baton reads, every probe path is a route, and every file the
// Dockerfile copies exists.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { buildProgram } from '../../src/cli/index.js';
import { ENVIRONMENT_HELP } from '../../src/config/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');
const program = buildProgram();
const KNOWN_ENV = new Set([...ENVIRONMENT_HELP.matchAll(/\b(BATON_[A-Z_]+)/g)].map((m) => m[1]!));
const API_SOURCES = ['src/api/server.ts', 'src/api/routes.ts'].map(read).join('\n');

/** Fails unless `args` is a baton subcommand followed by options it (or the program) accepts. */
function expectValidCommand(args: string[]): void {
  const [name, ...rest] = args;
  const cmd = program.commands.find((c) => c.name() === name);
  expect(cmd, `baton ${name}`).toBeDefined();
  const flags = new Set(
    [...(cmd as Command).options, ...program.options].flatMap((o) =>
      [o.long, o.short].filter(Boolean),
    ),
  );
  for (const arg of rest)
    if (arg.startsWith('-')) expect(flags, `baton ${name} ${arg}`).toContain(arg.split('=')[0]);
}

function expectKnownEnv(names: Iterable<string>): void {
  for (const n of names) if (n.startsWith('BATON_')) expect(KNOWN_ENV, n).toContain(n);
}

describe('deploy files', () => {
  it('docker-compose.yaml: commands, flags and environment exist', () => {
    const compose = parse(read('docker-compose.yaml'), { merge: true }) as {
      services: Record<
        string,
        { image: string; command?: string[]; environment?: Record<string, string> }
      >;
    };
    const baton = Object.values(compose.services).filter((s) => s.image.startsWith('baton'));
    expect(baton.length).toBeGreaterThanOrEqual(5);
    for (const s of baton) {
      expectValidCommand(s.command!);
      expectKnownEnv(Object.keys(s.environment ?? {}));
    }
  });

  it('kubernetes manifests: commands, flags, environment and probe paths exist', () => {
    const docs = parseAllDocuments(read('deploy/kubernetes/baton.yaml')).map(
      (d) => d.toJS() as Record<string, any>,
    );
    const configKeys = docs
      .filter((d) => d.kind === 'ConfigMap' && d.metadata.name === 'baton')
      .flatMap((d) => Object.keys(d.data));
    const secretKeys = docs
      .filter((d) => d.kind === 'Secret')
      .flatMap((d) => Object.keys(d.stringData));
    expectKnownEnv([...configKeys, ...secretKeys]);
    const containers = docs
      .filter((d) => d.kind === 'Deployment')
      .flatMap(
        (d) =>
          d.spec.template.spec.containers as {
            args: string[];
            env?: { name: string }[];
            readinessProbe?: any;
            livenessProbe?: any;
          }[],
      );
    expect(containers.map((c) => c.args[0]).sort()).toEqual(['scheduler', 'worker']);
    for (const c of containers) {
      expectValidCommand(c.args);
      expectKnownEnv((c.env ?? []).map((e) => e.name));
      for (const probe of [c.readinessProbe, c.livenessProbe].filter(Boolean)) {
        expect(API_SOURCES).toContain(`'${probe.httpGet.path}'`);
      }
    }
    // Every job file shipped in the ConfigMap is a valid definition shape (name + schedule).
    for (const text of Object.values(
      docs.find((d) => d.metadata?.name === 'baton-jobs')!.data as Record<string, string>,
    )) {
      expect(parse(text)).toMatchObject({ name: expect.any(String), schedule: expect.any(String) });
    }
  });

  it('Dockerfile: copies files that exist and starts the package binary', () => {
    const dockerfile = read('deploy/Dockerfile');
    const buildStage = dockerfile.split(/^FROM /m)[1]!;
    for (const m of buildStage.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/))
        expect(existsSync(path.join(ROOT, src)), src).toBe(true);
    }
    const pkg = JSON.parse(read('package.json')) as { bin: { baton: string } };
    expect(dockerfile).toContain(`ENTRYPOINT ["node", "${pkg.bin.baton}"]`);
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]!) as string[];
    expectValidCommand(cmd);
    // The dashboard is served from src/dashboard/public next to dist/.
    expect(dockerfile).toContain(
      'COPY --from=build /app/src/dashboard/public ./src/dashboard/public',
    );
    expect(existsSync(path.join(ROOT, 'src/dashboard/public/index.html'))).toBe(true);
  });
});
