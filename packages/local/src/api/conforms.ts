/**
 * Test help: the problems of a value against a JSON Schema of the API's document (ajv, JSON Schema
 * 2020-12 as OpenAPI 3.1 uses, with formats), as messages with paths; empty when it conforms.
 */
import Ajv2020 from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats(ajv)

/** Problems of `value` against `schema` (empty when it conforms), with paths. */
export function schemaProblems(schema: object, value: unknown): string[] {
  const validate = ajv.compile(schema)
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message} ${JSON.stringify(e.params)}`)
}
