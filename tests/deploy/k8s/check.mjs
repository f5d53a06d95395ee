// check.mjs — schema check of every manifest under deploy/kubernetes (docs/deploy.md). Kubernetes
// objects are validated by kubernetes-models (generated from Kubernetes' OpenAPI schemas) and
// ServiceMonitor by @kubernetes-models/prometheus-operator (from its CRD). No packaged schema of
// KServe exists on npm or in Debian: its two kinds are checked against the schema below, written
// from KServe's API reference for the fields used, with every container validated as a Kubernetes
// container. Also: every kustomization resource exists and every file is listed or named as
// optional; the Deployment, Service, HPA, probes and volumes agree with one another and with the
// image (deploy/Containerfile). Exits 1 with every problem listed.
//   node tests/deploy/k8s/check.mjs [DIR]      (DIR defaults to deploy/kubernetes)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import Ajv from 'ajv';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as autoscaling from 'kubernetes-models/autoscaling/v2';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = path.resolve(process.argv[2] || path.join(root, 'deploy/kubernetes'));
const problems = [];
const bad = (where, msg) => problems.push(`${where}: ${msg}`);

// ---------------------------------------------------------------- KServe (our schema)
const kserveContainer = { type: 'object', required: ['name', 'image'] }; // then checked as a core Container
const kserveSchemas = {
  'serving.kserve.io/v1alpha1/ServingRuntime': {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: 'serving.kserve.io/v1alpha1' },
      kind: { const: 'ServingRuntime' },
      metadata: { type: 'object', required: ['name'] },
      spec: {
        type: 'object',
        additionalProperties: false,
        required: ['supportedModelFormats', 'containers'],
        properties: {
          supportedModelFormats: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name'],
              properties: {
                name: { type: 'string', minLength: 1 },
                version: { type: 'string' },
                autoSelect: { type: 'boolean' },
                priority: { type: 'integer', minimum: 1 },
              },
            },
          },
          protocolVersions: { type: 'array', items: { enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] } },
          multiModel: { type: 'boolean' },
          disabled: { type: 'boolean' },
          containers: { type: 'array', minItems: 1, items: kserveContainer },
          volumes: { type: 'array' },
          nodeSelector: { type: 'object' },
          tolerations: { type: 'array' },
          affinity: { type: 'object' },
          annotations: { type: 'object' },
          labels: { type: 'object' },
        },
      },
    },
  },
  'serving.kserve.io/v1beta1/InferenceService': {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { const: 'serving.kserve.io/v1beta1' },
      kind: { const: 'InferenceService' },
      metadata: { type: 'object', required: ['name'] },
      spec: {
        type: 'object',
        additionalProperties: false,
        required: ['predictor'],
        properties: {
          predictor: {
            type: 'object',
            additionalProperties: false,
            properties: {
              minReplicas: { type: 'integer', minimum: 0 },
              maxReplicas: { type: 'integer', minimum: 1 },
              scaleTarget: { type: 'integer' },
              scaleMetric: { enum: ['cpu', 'memory', 'concurrency', 'rps'] },
              serviceAccountName: { type: 'string' },
              model: {
                type: 'object',
                additionalProperties: false,
                required: ['modelFormat'],
                properties: {
                  modelFormat: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['name'],
                    properties: { name: { type: 'string' }, version: { type: 'string' } },
                  },
                  runtime: { type: 'string' },
                  storageUri: { type: 'string', pattern: '^(pvc|s3|gs|hf|https?|oci)://.+' },
                  args: { type: 'array', items: { type: 'string' } },
                  env: { type: 'array' },
                  resources: { type: 'object' }, // then checked as core ResourceRequirements
                },
              },
            },
          },
        },
      },
    },
  },
};
const ajv = new Ajv({ allErrors: true, strict: false });
const kserveValidators = Object.fromEntries(Object.entries(kserveSchemas).map(([k, s]) => [k, ajv.compile(s)]));

// ---------------------------------------------------------------- kinds
const models = {
  'v1/ConfigMap': core.ConfigMap,
  'v1/Secret': core.Secret,
  'v1/Service': core.Service,
  'v1/PersistentVolumeClaim': core.PersistentVolumeClaim,
  'apps/v1/Deployment': apps.Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': autoscaling.HorizontalPodAutoscaler,
  'monitoring.coreos.com/v1/ServiceMonitor': monitoring.ServiceMonitor,
};

function validateModel(Model, obj, where) {
  try {
    new Model(obj).validate();
  } catch (e) {
    bad(where, e.message.replace(/\s+/g, ' '));
  }
}

function checkObject(obj, where) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  if (models[key]) {
    validateModel(models[key], obj, where);
  } else if (kserveValidators[key]) {
    const v = kserveValidators[key];
    if (!v(obj)) for (const e of v.errors) bad(where, `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
    for (const [i, c] of (obj.spec?.containers || []).entries()) validateModel(core.Container, c, `${where} container ${i}`);
    const res = obj.spec?.predictor?.model?.resources;
    if (res) validateModel(core.ResourceRequirements, res, `${where} resources`);
  } else {
    bad(where, `unknown kind ${key}: no schema to check it against`);
  }
}

// ---------------------------------------------------------------- files
const files = [];
(function walk(d) {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.ya?ml$/.test(e.name)) files.push(p);
  }
})(dir);
if (!files.length) bad(dir, 'no manifests');

const objects = [];
let kustomization = null;
for (const f of files.sort()) {
  const rel = path.relative(dir, f);
  const docs = YAML.parseAllDocuments(fs.readFileSync(f, 'utf8'));
  for (const [i, doc] of docs.entries()) {
    const where = docs.length > 1 ? `${rel}#${i}` : rel;
    if (doc.errors.length) {
      bad(where, `YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    if (obj.kind === 'Kustomization') {
      kustomization = { obj, rel };
      continue;
    }
    checkObject(obj, where);
    objects.push({ obj, rel, where });
  }
}

// ---------------------------------------------------------------- consistency
const find = (kind, name) => objects.find((o) => o.obj.kind === kind && (!name || o.obj.metadata.name === name));
const optional = new Set(['servicemonitor.yaml', 'prometheus-adapter-rules.yaml']);
if (!kustomization) {
  bad(dir, 'no kustomization.yaml');
} else {
  const listed = new Set(kustomization.obj.resources || []);
  for (const r of listed) if (!fs.existsSync(path.join(dir, r))) bad(kustomization.rel, `resource ${r} does not exist`);
  for (const o of objects) {
    if (!listed.has(o.rel) && !optional.has(o.rel) && !o.rel.startsWith('kserve/'))
      bad(o.rel, 'neither in kustomization.yaml nor one of the optional files');
  }
}

const dep = find('Deployment', 'lmserve');
if (!dep) {
  bad(dir, 'no Deployment lmserve');
} else {
  const spec = dep.obj.spec.template.spec;
  const c = spec.containers.find((x) => x.name === 'lmserve');
  const labels = dep.obj.spec.template.metadata.labels;
  const matches = (sel) => Object.entries(sel).every(([k, v]) => labels[k] === v);
  if (!matches(dep.obj.spec.selector.matchLabels)) bad(dep.rel, 'selector does not match the pod labels');
  const portNames = new Set((c.ports || []).map((p) => p.name));
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    if (!c[probe]) bad(dep.rel, `no ${probe}`);
    else if (!portNames.has(c[probe].httpGet.port)) bad(dep.rel, `${probe} names a port the container lacks`);
  }
  if (c.readinessProbe?.httpGet.path !== '/v2/health/ready') bad(dep.rel, 'readiness is not /v2/health/ready');
  if (c.livenessProbe?.httpGet.path !== '/v2/health/live') bad(dep.rel, 'liveness is not /v2/health/live');
  if (c.startupProbe?.httpGet.path !== '/v2/health/ready') bad(dep.rel, 'startup is not /v2/health/ready');
  if (!c.resources?.requests?.memory || !c.resources?.limits?.memory) bad(dep.rel, 'no memory request and limit');
  if (spec.securityContext?.runAsUser !== 10001 || !spec.securityContext?.runAsNonRoot)
    bad(dep.rel, "not the image's non-root user 10001");
  const port = c.ports.find((p) => p.name === 'http')?.containerPort;
  if (!c.args.includes(`--rest_port=${port}`)) bad(dep.rel, `--rest_port is not the container port ${port}`);
  const cfgArg = c.args.find((a) => a.startsWith('--config_path='));
  const mounts = Object.fromEntries((c.volumeMounts || []).map((m) => [m.name, m.mountPath]));
  const vols = Object.fromEntries((spec.volumes || []).map((v) => [v.name, v]));
  for (const name of Object.keys(mounts)) if (!vols[name]) bad(dep.rel, `volume mount ${name} has no volume`);
  if (mounts.models !== '/models') bad(dep.rel, 'the models volume is not at /models');
  const cmName = vols.config?.configMap?.name;
  const cm = find('ConfigMap', cmName);
  if (!cm) bad(dep.rel, `ConfigMap ${cmName} is not among the manifests`);
  else {
    const file = cfgArg?.slice('--config_path='.length);
    if (file !== `${mounts.config}/config.json`) bad(dep.rel, `--config_path ${file} is not the mounted config.json`);
    try {
      const conf = JSON.parse(cm.obj.data['config.json']);
      if (!Array.isArray(conf.model_config_list) || !conf.model_config_list.length)
        bad(cm.rel, 'config.json has no model_config_list');
    } catch (e) {
      bad(cm.rel, `config.json: ${e.message}`);
    }
  }
  const pvc = vols.models?.persistentVolumeClaim?.claimName;
  if (pvc && !find('PersistentVolumeClaim', pvc)) bad(dep.rel, `PersistentVolumeClaim ${pvc} is not among the manifests`);
  for (const e of c.env || []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      const sec = find('Secret', ref.name);
      if (!sec) bad(dep.rel, `Secret ${ref.name} is not among the manifests`);
      else if (!(ref.key in (sec.obj.stringData || {})) && !(ref.key in (sec.obj.data || {})))
        bad(dep.rel, `Secret ${ref.name} has no key ${ref.key}`);
    }
  }
  const svc = find('Service', 'lmserve');
  if (!svc) bad(dir, 'no Service lmserve');
  else {
    if (!matches(svc.obj.spec.selector)) bad(svc.rel, 'selector does not select the Deployment pods');
    for (const p of svc.obj.spec.ports) if (!portNames.has(p.targetPort)) bad(svc.rel, `targetPort ${p.targetPort} unknown`);
  }
  const hpa = find('HorizontalPodAutoscaler');
  if (!hpa) bad(dir, 'no HorizontalPodAutoscaler');
  else {
    if (hpa.obj.spec.scaleTargetRef.name !== 'lmserve') bad(hpa.rel, 'does not scale the lmserve Deployment');
    const m = hpa.obj.spec.metrics.find((x) => x.type === 'Pods')?.pods.metric.name;
    if (m !== 'lmserve_requests_waiting') bad(hpa.rel, `scales on ${m}, not lmserve_requests_waiting`);
    const rules = find('ConfigMap', 'prometheus-adapter-lmserve');
    const adapter = rules && YAML.parse(rules.obj.data['config.yaml']);
    if (!adapter?.rules?.some((r) => r.name?.as === m && r.seriesQuery?.includes(m)))
      bad(rules ? rules.rel : dir, `no prometheus-adapter rule serves ${m}`);
  }
  const sm = find('ServiceMonitor');
  if (sm && svc) {
    const names = new Set(svc.obj.spec.ports.map((p) => p.name));
    for (const ep of sm.obj.spec.endpoints) if (!names.has(ep.port)) bad(sm.rel, `endpoint port ${ep.port} is not the Service's`);
    if (!c.args.includes('--metrics_enable')) bad(dep.rel, 'ServiceMonitor scrapes /metrics but --metrics_enable is not set');
  }
}
const rt = find('ServingRuntime');
const isvc = find('InferenceService');
if (!rt || !isvc) bad(dir, 'no KServe ServingRuntime and InferenceService');
else if (isvc.obj.spec.predictor.model.runtime !== rt.obj.metadata.name) bad(isvc.rel, 'runtime is not the ServingRuntime');

const dockerfile = fs.readFileSync(path.join(root, 'deploy/Containerfile'), 'utf8');
if (!/^USER 10001/m.test(dockerfile)) bad('deploy/Containerfile', 'the image user is not 10001 as the manifests assume');

if (problems.length) {
  console.error(`deploy/kubernetes: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`deploy/kubernetes: ${objects.length} objects in ${files.length} files pass their schemas and agree`);
