/**
 * The JSON Schema of topology files, for editors (completion and inline docs in YAML files via
 * `# yaml-language-server: $schema=schema.json`). It is generated from the zod schema, so the
 * two cannot drift; the committed copy, topology/schema.json, is checked by a test and
 * rewritten by `r3mes topology schema --out topology/schema.json`.
 */
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { topologySchema } from './schema.ts'

export const COMMITTED_SCHEMA_FILE = fileURLToPath(new URL('../../topology/schema.json', import.meta.url))

export function topologyJsonSchema(): Record<string, unknown> {
  // io 'input': fields with a default are optional in the file, as the loader treats them.
  const schema = z.toJSONSchema(topologySchema, { io: 'input', target: 'draft-2020-12' })
  return { ...schema, title: 'R3MES topology' }
}

/** The schema as the committed file holds it: 2-space JSON and a final newline. */
export function topologyJsonSchemaText(): string {
  return `${JSON.stringify(topologyJsonSchema(), null, 2)}\n`
}
