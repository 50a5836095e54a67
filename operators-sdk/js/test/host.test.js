import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';

import { Utf8Decoder, Utf8Encoder, formatConsoleArgs, hostConsole } from '../src/globals.js';
import { HostCallFailure, nativeHost, setHost } from '../src/host.js';
import {
  HostError,
  ListState,
  MapState,
  OpenContext,
  TimeDomain,
  ValueState,
  keyOf,
  log,
  metrics,
  timers,
} from '../src/index.js';

afterEach(() => setHost(null));

/** A host that records calls and answers state calls from memory. */
function recordingHost(overrides = {}) {
  const calls = [];
  const host = {
    ...nativeHost,
    log: (level, message) => calls.push(['log', level, message]),
    logEnabled: (level) => level !== 'trace',
    counterAdd: (name, delta) => calls.push(['counter', name, delta]),
    gaugeSet: (name, value) => calls.push(['gauge', name, value]),
    ...overrides,
  };
  setHost(host);
  return calls;
}

describe('outside a runtime', () => {
  test('state and timers are unavailable, as a HostError carrying the reason', () => {
    for (const State of [ValueState, MapState, ListState]) {
      assert.throws(
        () => State.open('counts'),
        (e) =>
          e instanceof HostError &&
          e.kind === 'host' &&
          /^(value|map|list) state `counts`: unavailable: keyed state and timers exist only inside a Weir runtime$/.test(e.message),
      );
    }
    const timer = timers.timer(Uint8Array.of(1), 10);
    assert.throws(() => timers.register([timer]), /^HostError: registering timers: unavailable: /);
    assert.throws(() => timers.delete([timer]), /^HostError: deleting timers: unavailable: /);
    assert.equal(timers.currentWatermark(), null);
    assert.equal(typeof timers.currentProcessingTime(), 'bigint');
  });
});

describe('with a host', () => {
  test('logs and metrics reach it', () => {
    const calls = recordingHost();
    log.info('hello');
    log.log('warn', 42);
    metrics.counterAdd('rows', 3);
    metrics.counterAdd('big', 2n ** 60n);
    metrics.gaugeSet('size', 1.5);
    assert.equal(log.enabled('trace'), false);
    assert.deepEqual(calls, [
      ['log', 'info', 'hello'],
      ['log', 'warn', '42'],
      ['counter', 'rows', 3],
      ['counter', 'big', 2n ** 60n],
      ['gauge', 'size', 1.5],
    ]);
    assert.throws(() => log.log('loud', 'x'), /unknown log level "loud"/);
    assert.throws(() => metrics.counterAdd('rows', -1), /non-negative integer/);
    assert.throws(() => metrics.gaugeSet('size', '1'), /must be a number/);
  });

  test("each host-error case keeps the host's message", () => {
    const cases = [
      ['unavailable', 'unavailable'],
      ['limit-exceeded', 'limit exceeded'],
      ['invalid-argument', 'invalid argument'],
    ];
    for (const [cause, words] of cases) {
      recordingHost({
        openValueState: () => ({
          get: () => {
            throw new HostCallFailure(cause, 'the reason');
          },
        }),
      });
      const state = ValueState.open('s');
      assert.throws(() => state.get([Uint8Array.of(1)]), (e) => e instanceof HostError && e.message === `value state \`s\`: ${words}: the reason`);
    }
  });

  test('state handles pass keys and values through, checking their types', () => {
    const store = new Map();
    const k = (bytes) => Buffer.from(bytes).toString('hex');
    recordingHost({
      openValueState: () => ({
        get: (keys) => keys.map((key) => store.get(k(key)) ?? null),
        put: (entries) => entries.forEach(([key, value]) => (value === null ? store.delete(k(key)) : store.set(k(key), value))),
      }),
    });
    const state = ValueState.open('counts');
    const key = keyOf({ word: 'hi' }, [{ name: 'word', type: 'utf8', nullable: false }]);
    state.put([[key, Uint8Array.of(7)]]);
    assert.deepEqual(state.get([key, Uint8Array.of(0)]), [Uint8Array.of(7), null]);
    state.put([[key, null]]);
    assert.deepEqual(state.get([key]), [null]);
    assert.throws(() => state.get(['hi']), /get: item 0 is not a Uint8Array/);
  });

  test('timers are checked and normalized before they reach the host', () => {
    const registered = [];
    recordingHost({ registerTimers: (t) => registered.push(...t) });
    timers.register([{ key: Uint8Array.of(1), timestamp: 5, domain: TimeDomain.ProcessingTime }]);
    assert.deepEqual(registered, [{ key: Uint8Array.of(1), timestamp: 5n, domain: 'processing-time' }]);
    assert.throws(() => timers.register([{ key: Uint8Array.of(1), timestamp: 1.5, domain: 'event-time' }]), /64-bit integer/);
    assert.throws(() => timers.register([{ key: 'k', timestamp: 1n, domain: 'event-time' }]), /key is not a Uint8Array/);
    assert.throws(() => timers.register([{ key: Uint8Array.of(1), timestamp: 1n, domain: 'wall' }]), /unknown domain "wall"/);
  });
});

describe('keys', () => {
  test('ctx.keyOf encodes the key columns of a record', () => {
    const ctx = new OpenContext({
      inputSchema: [
        { name: 'word', type: 'utf8', nullable: false },
        { name: 'n', type: 'int64' },
      ],
      keyFields: ['word'],
    });
    assert.deepEqual(ctx.keyOf({ word: 'hi', n: 1n }), Uint8Array.of(4, 2, 0, 0, 0, 0x68, 0x69));
    const missing = new OpenContext({ inputSchema: [{ name: 'a', type: 'utf8' }], keyFields: ['b'] });
    assert.throws(() => missing.keyColumns, /the input has no column `b`/);
  });
});

describe('globals for engines without them', () => {
  test('TextEncoder and TextDecoder stand-ins agree with the standard ones', () => {
    const samples = ['', 'ascii', 'Zoë 日本 🌊', '\ufeffbom', 'lone \ud800'];
    for (const text of samples) {
      const bytes = new Utf8Encoder().encode(text);
      assert.deepEqual(bytes, new TextEncoder().encode(text));
      assert.equal(new Utf8Decoder().decode(bytes), new TextDecoder().decode(bytes));
      assert.equal(new Utf8Decoder('utf-8', { ignoreBOM: true }).decode(bytes), new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes));
    }
    const invalid = Uint8Array.of(0x61, 0xff, 0x62);
    assert.equal(new Utf8Decoder().decode(invalid), 'a\ufffdb');
    assert.throws(() => new Utf8Decoder('utf-8', { fatal: true }).decode(invalid), TypeError);
    assert.throws(() => new Utf8Decoder('latin1'), RangeError);
    const into = new Uint8Array(4);
    assert.deepEqual(new Utf8Encoder().encodeInto('ab日', into), new TextEncoder().encodeInto('ab日', new Uint8Array(4)));
    assert.deepEqual(new Utf8Encoder().encodeInto('ab🌊', into), { read: 2, written: 2 });
  });

  test('console calls become log events', () => {
    const calls = recordingHost();
    hostConsole.log('n =', 3, { a: 1n }, Uint8Array.of(1, 2));
    hostConsole.warn('careful');
    assert.deepEqual(calls, [
      ['log', 'info', 'n = 3 {"a":"1n"} Uint8Array(2) [1, 2]'],
      ['log', 'warn', 'careful'],
    ]);
    assert.match(formatConsoleArgs([new Error('boom')]), /^Error: boom\n/);
  });
});
