// Typed configuration: the operator's `config` from the job spec arrives as
// JSON text at open; `ctx.config(spec)` parses and checks it against a spec
// built from `param` helpers or plain defaults:
//
//   const config = ctx.config({
//     lowercase: true,                       // shorthand for param.boolean(true)
//     minLength: param.integer(1, { min: 0 }),
//     failOnId: param.integer(),             // optional: undefined when absent
//   });
//
// Unknown fields, wrong types and values out of range are `InvalidConfig`
// errors naming the field, so the job fails before any record flows.

import { InvalidConfig } from './errors.js';

/** One field of a configuration spec. */
export class Param {
  constructor(kind, check, defaultValue, required = false) {
    this.kind = kind;
    this.check = check;
    this.default = defaultValue;
    this.isRequired = required;
    Object.freeze(this);
  }

  /** The same field, which must be present (and not null). */
  required() {
    return new Param(this.kind, this.check, undefined, true);
  }
}

function describeFound(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  const shown = type === 'string' ? ` ${JSON.stringify(value)}` : type === 'object' ? '' : ` ${String(value)}`;
  return `${type === 'object' || type === 'array' ? 'an' : 'a'} ${type}${shown}`;
}

function bounds(what, value, { min, max } = {}) {
  if (min !== undefined && value < min) return `${what} ${value} is less than ${min}`;
  if (max !== undefined && value > max) return `${what} ${value} is more than ${max}`;
  return undefined;
}

export const param = Object.freeze({
  /** true or false. */
  boolean(defaultValue) {
    return new Param('boolean', (v) => (typeof v === 'boolean' ? undefined : `expected a boolean, found ${describeFound(v)}`), defaultValue);
  },
  /** Any finite number; `min`/`max` bound it. */
  number(defaultValue, range) {
    return new Param(
      'number',
      (v) =>
        typeof v === 'number' && Number.isFinite(v) ? bounds('the number', v, range) : `expected a number, found ${describeFound(v)}`,
      defaultValue,
    );
  },
  /**
   * An integer that a number holds exactly (|n| <= 2^53 - 1; JSON integers
   * beyond lose precision when parsed); `min`/`max` bound it.
   */
  integer(defaultValue, range) {
    return new Param(
      'integer',
      (v) =>
        typeof v === 'number' && Number.isSafeInteger(v)
          ? bounds('the integer', v, range)
          : `expected an integer, found ${describeFound(v)}`,
      defaultValue,
    );
  },
  /** A string. */
  string(defaultValue) {
    return new Param('string', (v) => (typeof v === 'string' ? undefined : `expected a string, found ${describeFound(v)}`), defaultValue);
  },
  /** One of `values` (strings, numbers or booleans), compared with ===. */
  oneOf(values, defaultValue) {
    const shown = values.map((v) => JSON.stringify(v)).join(', ');
    return new Param(
      'oneOf',
      (v) => (values.includes(v) ? undefined : `expected one of ${shown}, found ${describeFound(v)}`),
      defaultValue,
    );
  },
  /** An array; `item`, a param, checks each element. */
  array(defaultValue, item) {
    return new Param(
      'array',
      (v) => {
        if (!Array.isArray(v)) return `expected an array, found ${describeFound(v)}`;
        if (item === undefined) return undefined;
        for (let i = 0; i < v.length; i++) {
          const problem = item.check(v[i]);
          if (problem !== undefined) return `item ${i}: ${problem}`;
        }
        return undefined;
      },
      defaultValue,
    );
  },
  /** A JSON object, taken as it is. */
  object(defaultValue) {
    return new Param(
      'object',
      (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? undefined : `expected an object, found ${describeFound(v)}`),
      defaultValue,
    );
  },
  /** Any JSON value. */
  any(defaultValue) {
    return new Param('any', () => undefined, defaultValue);
  },
});

/** The `Param` of a spec entry: a `Param`, or a plain default value. */
function toParam(name, entry) {
  if (entry instanceof Param) return entry;
  switch (typeof entry) {
    case 'boolean':
      return param.boolean(entry);
    case 'number':
      return param.number(entry);
    case 'string':
      return param.string(entry);
    default:
      if (Array.isArray(entry)) return param.array(entry);
      throw new TypeError(
        `config spec: field \`${name}\`: give a default (true, 1, "text", [...]) or a param (param.integer(), param.object({...}), ...)`,
      );
  }
}

/**
 * Parses `json` (the open context's config) and checks it against `spec`;
 * `operatorName` goes into messages. Without a spec, returns the parsed JSON.
 */
export function parseConfig(json, spec, operatorName) {
  const fail = (problem) => new InvalidConfig(`invalid config of operator \`${operatorName}\`: ${problem}`);
  let parsed;
  const text = typeof json === 'string' && json.trim() !== '' ? json : '{}';
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw fail(`not valid JSON: ${e.message}`);
  }
  if (spec === undefined) return parsed;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw fail(`expected a mapping of fields, found ${describeFound(parsed)}`);
  }
  const params = new Map(Object.entries(spec).map(([name, entry]) => [name, toParam(name, entry)]));
  for (const name of Object.keys(parsed)) {
    if (!params.has(name)) {
      const known = params.size > 0 ? [...params.keys()].map((k) => `\`${k}\``).join(', ') : '(none)';
      throw fail(`unknown field \`${name}\`; the known fields are: ${known}`);
    }
  }
  const config = {};
  for (const [name, p] of params) {
    const value = parsed[name];
    // A field written without a value in YAML (`prefix:`) arrives as null:
    // it means "not set", like a field left out.
    if (value === undefined || value === null) {
      if (p.isRequired) throw fail(`field \`${name}\` is required`);
      config[name] = p.default;
      continue;
    }
    const problem = p.check(value);
    if (problem !== undefined) throw fail(`field \`${name}\`: ${problem}`);
    config[name] = value;
  }
  return config;
}
