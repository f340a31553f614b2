/* eslint-disable @typescript-eslint/no-explicit-any -- parsed manifests, shapes checked by the assertions */
// The image, the compose file and the Kubernetes manifests checked against the code they drive:
// every command and flag they use exists, every BATON_* variable they set is one baton reads,
// every probe path is a route, every file the Dockerfile copies exists; the manifests against the
// Kubernetes schemas (kubernetes-models). `npm run test:deploy` (test/deploy/) runs the image and
// the compose file for real.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
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

/** The schema of every kind the manifests use (apiVersion/kind). */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function validateManifest(doc: Record<string, any>): void {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!Model) throw new Error(`no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate();
}

const manifests = () =>
  parseAllDocuments(read('deploy/kubernetes/baton.yaml')).map(
    (d) => d.toJS() as Record<string, any>,
  );

function expectKnownEnv(names: Iterable<string>): void {
  for (const n of names) if (n.startsWith('BATON_')) expect(KNOWN_ENV, n).toContain(n);
}

describe('deploy files', () => {
  it('docker-compose.yaml: commands, flags and environment exist', () => {
    const compose = parse(read('docker-compose.yaml'), { merge: true }) as {
      services: Record<
        string,
        {
          image: string;
          entrypoint?: string[];
          command?: string[];
          environment?: Record<string, string>;
        }
      >;
    };
    const baton = Object.values(compose.services).filter((s) => s.image.startsWith('baton'));
    expect(baton.length).toBeGreaterThanOrEqual(5);
    for (const s of baton) {
      if (s.entrypoint) {
        // An example's own program in the image (built from its .ts source under jobs/).
        const [node, script] = s.entrypoint;
        expect(node).toBe('node');
        expect(script).toMatch(/^dist\/jobs\/.+\.js$/);
        expect(
          existsSync(path.join(ROOT, script!.replace(/^dist\//, '').replace(/\.js$/, '.ts'))),
        ).toBe(true);
      } else expectValidCommand(s.command!);
      expectKnownEnv(Object.keys(s.environment ?? {}));
    }
  });

  it('kubernetes manifests: commands, flags, environment and probe paths exist', () => {
    const docs = manifests();
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

  it('kubernetes manifests validate against the Kubernetes schemas', () => {
    const docs = manifests();
    expect(docs.map((d) => d.kind)).toContain('Deployment');
    for (const d of docs)
      expect(() => validateManifest(d), `${d.kind} ${d.metadata.name}`).not.toThrow();
    // The validator bites: a wrong type or an unknown field is refused.
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    expect(() =>
      validateManifest({ ...deployment, spec: { ...deployment.spec, replicas: 'three' } }),
    ).toThrow();
    const pod = deployment.spec.template.spec;
    expect(() =>
      validateManifest({
        ...deployment,
        spec: {
          ...deployment.spec,
          template: {
            ...deployment.spec.template,
            spec: { ...pod, securityContext: { runAsUser: 'node' } },
          },
        },
      }),
    ).toThrow();
  });

  it('kubernetes: pinned pull policy, numeric non-root user, etcd credentials for workers too', () => {
    const docs = manifests();
    const dockerUser = /^USER (\d+):(\d+)$/m.exec(read('deploy/Dockerfile'));
    expect(dockerUser, 'numeric USER in the Dockerfile').not.toBeNull();
    const claims = docs
      .filter((d) => d.kind === 'PersistentVolumeClaim')
      .map((d) => d.metadata.name);
    for (const d of docs.filter((x) => x.kind === 'Deployment')) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: Number(dockerUser![1]),
        runAsGroup: Number(dockerUser![2]),
      });
      for (const c of pod.containers) {
        expect(c.imagePullPolicy, c.name).toBe('IfNotPresent');
        expect(c.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
        });
        expect(c.envFrom).toContainEqual({ secretRef: { name: 'baton' } });
        // Every mount has a volume, every persistent volume a claim in the file.
        for (const m of c.volumeMounts) {
          const v = pod.volumes.find((x: any) => x.name === m.name);
          expect(v, m.name).toBeDefined();
          if (v.persistentVolumeClaim) expect(claims).toContain(v.persistentVolumeClaim.claimName);
        }
      }
    }
    const worker = docs.find((d) => d.metadata.name === 'baton-worker')!.spec.template.spec;
    expect(worker.containers[0].volumeMounts.map((m: any) => m.mountPath)).toContain('/app/.baton');
    const scheduler = docs.find((d) => d.metadata.name === 'baton-scheduler')!.spec.template.spec;
    expect(scheduler.containers[0].env).toContainEqual({
      name: 'BATON_ADVERTISE_URL',
      value: 'http://$(POD_IP):8080',
    });
  });

  it('compose: 3 etcd members, builds the image, restarts, gives workers time and a data volume', () => {
    const compose = parse(read('docker-compose.yaml'), { merge: true }) as {
      services: Record<string, any>;
      volumes: Record<string, unknown>;
    };
    const etcd = Object.entries(compose.services).filter(([, s]) => s.image.includes('etcd'));
    expect(etcd).toHaveLength(3);
    const cluster = etcd[0]![1].environment.ETCD_INITIAL_CLUSTER as string;
    for (const [name, s] of etcd) {
      expect(cluster).toContain(`${name}=http://${name}:2380`);
      expect(s.environment.ETCD_NAME).toBe(name);
    }
    const baton = Object.entries(compose.services).filter(([, s]) => s.image.startsWith('baton'));
    for (const [name, s] of baton) {
      expect(s.build, name).toMatchObject({ context: '.', dockerfile: 'deploy/Dockerfile' });
      expect(s.restart, name).toBe('unless-stopped');
    }
    const worker = compose.services.worker;
    const grace = Number(
      /^(\d+)s$/.exec(worker.command[worker.command.indexOf('--grace') + 1])![1],
    );
    // --grace, then 2 s for aborted handlers, then up to 10 s for BullMQ to close.
    expect(Number(/^(\d+)s$/.exec(worker.stop_grace_period)![1])).toBeGreaterThanOrEqual(
      grace + 12,
    );
    expect(worker.volumes).toContain('baton-data:/app/.baton');
    expect(worker.environment.BATON_TELEPHONY_URL).toBe('http://telephony-sink:4010');
    for (const v of [...baton, ...etcd].flatMap(([, s]) => s.volumes ?? []))
      expect(Object.keys(compose.volumes)).toContain((v as string).split(':')[0]);
  });

  it('.dockerignore keeps node_modules and local data out of the build context', () => {
    const ignore = read('.dockerignore');
    const rules = ignore.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    // Everything out, then only what the build stage copies back in.
    expect(rules[0]).toBe('*');
    expect(ignore).not.toMatch(/^!node_modules/m);
    const dockerfile = read('deploy/Dockerfile');
    expect(dockerfile).toMatch(/\bnpm ci\b/);
    expect(dockerfile).not.toMatch(/\bnpm install\b/);
  });
});
