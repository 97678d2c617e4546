// Drives `peft4j serve` with the official OpenAI Node SDK and checks its answers.
//
// Usage: node openai-client.mjs CASES.json
//   env PEFT4J_BASE_URL  e.g. http://127.0.0.1:8080/v1 (default)
//   env PEFT4J_API_KEY   the server's key; empty means the server has none (the 401 check is then skipped)
//
// CASES.json:
//   {"models": ["base-name", "adapterA", ...],
//    "completions": [{"model": "adapterA", "prompt": "Once upon", "max_tokens": 12, "expected": "exact greedy text"}],
//    "chat": [{"model": "adapterA", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 12, "expected": "..."}]}
//
// Prints one line per check ("ok NAME" or "FAIL NAME: expected ... got ..."), then a summary; exit code 1 on any failure.

import fs from 'node:fs';
import OpenAI from 'openai';

const casesPath = process.argv[2];
if (!casesPath) {
  console.error('usage: node openai-client.mjs CASES.json   (env PEFT4J_BASE_URL, PEFT4J_API_KEY)');
  process.exit(2);
}
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const baseURL = process.env.PEFT4J_BASE_URL || 'http://127.0.0.1:8080/v1';
const apiKey = process.env.PEFT4J_API_KEY || '';

const client = new OpenAI({ baseURL, apiKey: apiKey || 'none', maxRetries: 0, timeout: 60000 });

let passed = 0;
let failed = 0;
const show = v => (typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

function ok(name) {
  passed++;
  console.log(`ok ${name}`);
}
function fail(name, expected, got) {
  failed++;
  console.log(`FAIL ${name}: expected ${expected} got ${got}`);
}
/** One check: `fn` returns a list of [what, expected, got, passes?]; any thrown error fails the check. */
async function check(name, fn) {
  try {
    const results = await fn();
    const bad = results.filter(r => !r[3]);
    if (bad.length === 0) ok(name);
    else fail(name, bad.map(r => `${r[0]}=${r[1]}`).join(', '), bad.map(r => `${r[0]}=${r[2]}`).join(', '));
  } catch (e) {
    fail(name, 'no exception', describeError(e));
  }
}
function describeError(e) {
  if (e instanceof OpenAI.APIError) {
    return `${e.constructor.name} status=${e.status} message=${show(e.message)}`;
  }
  return `${e && e.constructor ? e.constructor.name : typeof e}: ${e && e.message ? e.message : String(e)}`;
}
/** Check that `fn` throws an OpenAI.APIError of class `cls` with `status` and a non-empty error.message. */
async function checkApiError(name, cls, status, fn) {
  try {
    const r = await fn();
    fail(name, `${cls.name} (HTTP ${status})`, `a success: ${show(r).slice(0, 200)}`);
  } catch (e) {
    const msg = e && e.error && typeof e.error.message === 'string' ? e.error.message : '';
    if (e instanceof OpenAI.APIError && e instanceof cls && e.status === status && msg.length > 0) {
      ok(name);
    } else {
      fail(name, `${cls.name} with status ${status} and a non-empty error.message`,
        `${describeError(e)} error=${show(e && e.error)}`);
    }
  }
}
const eq = (what, expected, got) => [what, show(expected), show(got), expected === got];
const is = (what, expectedDesc, got, pass) => [what, expectedDesc, show(got), pass];

function usageChecks(usage, expectedCompletionTokensAtLeast = 1) {
  const u = usage || {};
  return [
    is('usage.prompt_tokens', '> 0', u.prompt_tokens, Number.isInteger(u.prompt_tokens) && u.prompt_tokens > 0),
    is('usage.completion_tokens', `>= ${expectedCompletionTokensAtLeast}`, u.completion_tokens,
      Number.isInteger(u.completion_tokens) && u.completion_tokens >= expectedCompletionTokensAtLeast),
    is('usage.total_tokens', 'prompt_tokens + completion_tokens', u.total_tokens,
      u.total_tokens === u.prompt_tokens + u.completion_tokens),
  ];
}
const finishOk = fr => fr === 'length' || fr === 'stop';

console.log(`# base URL ${baseURL}, API key ${apiKey ? 'set' : 'not set'}, cases ${casesPath}`);

// --- models -------------------------------------------------------------------------------------------------
await check('models.list', async () => {
  const seen = new Map();
  for await (const m of client.models.list()) seen.set(m.id, m);
  const results = [];
  for (const id of cases.models || []) {
    const m = seen.get(id);
    results.push(is(`model ${id}`, 'listed', m ? 'listed' : `missing (listed: ${[...seen.keys()].join(', ')})`, !!m));
    if (m) results.push(eq(`model ${id}.object`, 'model', m.object));
  }
  return results;
});

// --- completions --------------------------------------------------------------------------------------------
for (const [i, c] of (cases.completions || []).entries()) {
  const tag = `completion[${i}] ${c.model} ${show(c.prompt)}`;
  const req = { model: c.model, prompt: c.prompt, max_tokens: c.max_tokens, temperature: 0 };

  await check(`${tag}`, async () => {
    const r = await client.completions.create(req);
    const ch = (r.choices || [])[0] || {};
    return [
      eq('object', 'text_completion', r.object),
      eq('choices[0].text', c.expected, ch.text),
      is('choices[0].finish_reason', '"length" or "stop"', ch.finish_reason, finishOk(ch.finish_reason)),
      ...usageChecks(r.usage),
    ];
  });

  await check(`${tag} stream`, async () => {
    const stream = await client.completions.create({ ...req, stream: true });
    let text = '';
    let lastFinish;
    let chunks = 0;
    for await (const chunk of stream) {
      if (!chunk.choices || chunk.choices.length === 0) continue;
      chunks++;
      const ch = chunk.choices[0];
      text += ch.text ?? '';
      lastFinish = ch.finish_reason;
    }
    return [
      eq('concatenated text', c.expected, text),
      is('chunks with choices', '>= 1', chunks, chunks >= 1),
      is('last finish_reason', 'non-null ("length" or "stop")', lastFinish, finishOk(lastFinish)),
    ];
  });

  await check(`${tag} n=2`, async () => {
    const r = await client.completions.create({ ...req, n: 2 });
    const byIndex = new Map((r.choices || []).map(ch => [ch.index, ch]));
    return [
      eq('choices.length', 2, (r.choices || []).length),
      eq('choices[index 0].text', c.expected, byIndex.get(0)?.text),
      eq('choices[index 1].text', c.expected, byIndex.get(1)?.text),
      ...usageChecks(r.usage, 2),
    ];
  });
}

// --- chat ---------------------------------------------------------------------------------------------------
for (const [i, c] of (cases.chat || []).entries()) {
  const last = c.messages[c.messages.length - 1];
  const tag = `chat[${i}] ${c.model} ${show(typeof last.content === 'string' ? last.content : '(parts)')}`;
  const req = { model: c.model, messages: c.messages, max_tokens: c.max_tokens, temperature: 0 };

  await check(`${tag}`, async () => {
    const r = await client.chat.completions.create(req);
    const ch = (r.choices || [])[0] || {};
    return [
      eq('object', 'chat.completion', r.object),
      eq('choices[0].message.role', 'assistant', ch.message?.role),
      eq('choices[0].message.content', c.expected, ch.message?.content),
      is('choices[0].finish_reason', '"length" or "stop"', ch.finish_reason, finishOk(ch.finish_reason)),
      ...usageChecks(r.usage),
    ];
  });

  await check(`${tag} stream`, async () => {
    const stream = await client.chat.completions.create({ ...req, stream: true });
    let text = '';
    let role;
    let lastFinish;
    for await (const chunk of stream) {
      if (!chunk.choices || chunk.choices.length === 0) continue;
      const ch = chunk.choices[0];
      if (ch.delta?.role) role = ch.delta.role;
      text += ch.delta?.content ?? '';
      lastFinish = ch.finish_reason;
    }
    return [
      eq('concatenated delta.content', c.expected, text),
      eq('delta.role', 'assistant', role),
      is('last finish_reason', 'non-null ("length" or "stop")', lastFinish, finishOk(lastFinish)),
    ];
  });
}

// --- errors -------------------------------------------------------------------------------------------------
const someModel = (cases.completions || [])[0]?.model || (cases.models || [])[0];

await checkApiError('unknown model -> 404', OpenAI.NotFoundError, 404, () =>
  client.completions.create({ model: 'no-such-adapter', prompt: 'hello', max_tokens: 4, temperature: 0 }));

await checkApiError('unknown model (chat) -> 404', OpenAI.NotFoundError, 404, () =>
  client.chat.completions.create({ model: 'no-such-adapter', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }));

if (apiKey) {
  const wrong = new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0, timeout: 60000 });
  await checkApiError('wrong API key models.list -> 401', OpenAI.AuthenticationError, 401, () => wrong.models.list());
  await checkApiError('wrong API key completion -> 401', OpenAI.AuthenticationError, 401, () =>
    wrong.completions.create({ model: someModel, prompt: 'hello', max_tokens: 4, temperature: 0 }));
} else {
  console.log('# skip wrong API key -> 401 (PEFT4J_API_KEY is empty)');
}

await checkApiError('max_tokens -1 -> 400', OpenAI.BadRequestError, 400, () =>
  client.completions.create({ model: someModel, prompt: 'hello', max_tokens: -1 }));

// --- seeded sampling ----------------------------------------------------------------------------------------
{
  const c = (cases.completions || [])[0];
  if (c) {
    await check(`seeded sampling ${c.model} temperature 0.8 seed 7 twice`, async () => {
      const req = { model: c.model, prompt: c.prompt, max_tokens: c.max_tokens, temperature: 0.8, seed: 7 };
      const a = await client.completions.create(req);
      const b = await client.completions.create(req);
      const ta = a.choices?.[0]?.text;
      const tb = b.choices?.[0]?.text;
      console.log(`# seeded text ${show(ta)}`);
      return [
        is('first text', 'a string', ta, typeof ta === 'string'),
        eq('second text equals the first', ta, tb),
      ];
    });
  } else {
    console.log('# skip seeded sampling (no completion cases)');
  }
}

console.log(`# ${passed + failed} checks, ${passed} ok, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
