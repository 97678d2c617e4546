// A stand-in for `peft4j serve`, for checking the JavaScript in this folder without the Java server.
//
// Usage: node mock-server.mjs PORT
//   env PEFT4J_API_KEY  when non-empty, every /v1/* request must carry "Authorization: Bearer <key>" (else 401)
//   env MOCK_MODELS     comma-separated model ids (default "tiny-base,adapter-a,adapter-b"; the first is the base)
//   env MOCK_DELAY_MS   pause between streamed chunks (default 40)
//   env MOCK_NO_USAGE   when "1", ignore stream_options.include_usage (no usage chunk is streamed)
//
// Fake, deterministic generation: the token list is [model + ":", ...words of the prompt reversed character by
// character] (so "Once upon a time" gives "emit", "a", "nopu", "ecnO"), emitted once: a request whose max_tokens
// covers all of it ends with finish_reason "stop", a shorter one is cut to max_tokens words with "length".
// Completion tokens carry a leading space (" tok"); in chat the first token has none.
// With temperature > 0 the word order is shuffled by a PRNG seeded from `seed` (random when no seed).
//
// Wire formats follow OpenAI's: text_completion / chat.completion objects, their streamed chunks as
// "data: JSON\n\n" lines ending with "data: [DONE]\n\n", errors as {"error": {message, type, param, code}}.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const INDEX_HTML = path.resolve(here, '../../main/resources/dev/peft4j/serve/index.html');

const port = Number(process.argv[2] || 18080);
const apiKey = process.env.PEFT4J_API_KEY || '';
const models = (process.env.MOCK_MODELS || 'tiny-base,adapter-a,adapter-b').split(',').map(s => s.trim()).filter(Boolean);
const delayMs = Number(process.env.MOCK_DELAY_MS ?? 40);
const created = Math.floor(Date.now() / 1000);
let counter = 0;

const sleep = ms => new Promise(r => setTimeout(r, ms));

function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The words the mock "generates" for a prompt, before max_tokens truncation. */
export function fakeWords(model, prompt, temperature = 0, seed = null) {
  const words = prompt.split('').reverse().join('').split(/\s+/).filter(Boolean);
  if (temperature > 0) {
    const rnd = mulberry32(seed == null ? Math.floor(Math.random() * 2 ** 31) : Number(seed));
    for (let i = words.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [words[i], words[j]] = [words[j], words[i]];
    }
  }
  return [model + ':', ...words];
}

/** Tokens (with their spacing) and finish reason for one choice. */
export function generate(model, prompt, maxTokens, { chat = false, temperature = 0, seed = null } = {}) {
  const words = fakeWords(model, prompt, temperature, seed);
  const limit = maxTokens == null ? words.length : maxTokens;
  const kept = words.slice(0, limit);
  const tokens = kept.map((w, i) => (chat && i === 0 ? w : ' ' + w));
  return { tokens, finishReason: words.length > limit ? 'length' : 'stop' };
}

function countPromptTokens(text) {
  return Math.max(1, text.split(/\s+/).filter(Boolean).length);
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res, status, message, type, code, param = null) {
  sendJson(res, status, { error: { message, type, param, code } });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function handleGeneration(req, res, chat) {
  let body;
  try {
    body = JSON.parse(await readBody(req) || '{}');
  } catch (e) {
    return sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
  }
  const model = body.model;
  if (typeof model !== 'string' || !model) {
    return sendError(res, 400, "you must provide a model parameter", 'invalid_request_error', null, 'model');
  }
  if (!models.includes(model)) {
    return sendError(res, 404, `The model '${model}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');
  }
  const maxTokens = chat ? (body.max_completion_tokens ?? body.max_tokens) : body.max_tokens;
  if (maxTokens != null && (!Number.isInteger(maxTokens) || maxTokens < 0)) {
    return sendError(res, 400, `Invalid 'max_tokens': integer below minimum value. Expected a value >= 0, but got ${maxTokens} instead.`,
      'invalid_request_error', 'integer_below_min_value', 'max_tokens');
  }
  let prompt;
  if (chat) {
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return sendError(res, 400, "'messages' must be a non-empty array", 'invalid_request_error', null, 'messages');
    }
    const users = body.messages.filter(m => m.role === 'user');
    const last = users.length ? users[users.length - 1].content : '';
    prompt = typeof last === 'string' ? last : (last || []).map(p => p.text || '').join(' ');
  } else {
    prompt = Array.isArray(body.prompt) ? String(body.prompt[0] ?? '') : String(body.prompt ?? '');
  }
  const n = body.n ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 8) {
    return sendError(res, 400, `Invalid 'n': ${n}`, 'invalid_request_error', null, 'n');
  }
  const temperature = body.temperature ?? 1;
  const choices = [];
  for (let i = 0; i < n; i++) {
    // seed + index keeps the n choices of one request apart when sampling, and the same across requests
    const seed = body.seed == null ? null : body.seed + i;
    choices.push(generate(model, prompt, maxTokens, { chat, temperature, seed }));
  }
  const promptTokens = countPromptTokens(prompt);
  const completionTokens = choices.reduce((s, c) => s + c.tokens.length, 0);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const id = (chat ? 'chatcmpl-' : 'cmpl-') + (++counter);

  if (!body.stream) {
    const out = chat
      ? {
          id, object: 'chat.completion', created, model,
          choices: choices.map((c, index) => ({
            index, message: { role: 'assistant', content: c.tokens.join('') }, logprobs: null, finish_reason: c.finishReason,
          })),
          usage,
        }
      : {
          id, object: 'text_completion', created, model,
          choices: choices.map((c, index) => ({ index, text: c.tokens.join(''), logprobs: null, finish_reason: c.finishReason })),
          usage,
        };
    return sendJson(res, 200, out);
  }

  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  const send = obj => res.write('data: ' + JSON.stringify(obj) + '\n\n');
  const object = chat ? 'chat.completion.chunk' : 'text_completion';
  if (chat) {
    choices.forEach((c, index) =>
      send({ id, object, created, model, choices: [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }));
  }
  const longest = Math.max(...choices.map(c => c.tokens.length));
  for (let t = 0; t < longest; t++) {
    for (let index = 0; index < choices.length; index++) {
      const tok = choices[index].tokens[t];
      if (tok === undefined) continue;
      send(chat
        ? { id, object, created, model, choices: [{ index, delta: { content: tok }, logprobs: null, finish_reason: null }] }
        : { id, object, created, model, choices: [{ index, text: tok, logprobs: null, finish_reason: null }] });
    }
    if (delayMs > 0) await sleep(delayMs);
  }
  choices.forEach((c, index) =>
    send(chat
      ? { id, object, created, model, choices: [{ index, delta: {}, logprobs: null, finish_reason: c.finishReason }] }
      : { id, object, created, model, choices: [{ index, text: '', logprobs: null, finish_reason: c.finishReason }] }));
  if (body.stream_options && body.stream_options.include_usage && process.env.MOCK_NO_USAGE !== '1') {
    send({ id, object, created, model, choices: [], usage });
  }
  res.write('data: [DONE]\n\n');
  res.end();
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost');
    const p = url.pathname;
    if (req.method === 'GET' && (p === '/' || p === '/index.html')) {
      const html = fs.readFileSync(INDEX_HTML);
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': html.length });
      return res.end(html);
    }
    if (!p.startsWith('/v1/')) {
      return sendError(res, 404, `Unknown path ${p}`, 'invalid_request_error', 'not_found');
    }
    if (apiKey) {
      const auth = req.headers['authorization'] || '';
      if (auth !== 'Bearer ' + apiKey) {
        return sendError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
      }
    }
    if (req.method === 'GET' && p === '/v1/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: models.map(id => ({ id, object: 'model', created, owned_by: 'peft4j' })),
      });
    }
    if (req.method === 'POST' && p === '/v1/completions') return await handleGeneration(req, res, false);
    if (req.method === 'POST' && p === '/v1/chat/completions') return await handleGeneration(req, res, true);
    return sendError(res, 404, `Unknown path ${req.method} ${p}`, 'invalid_request_error', 'not_found');
  } catch (e) {
    console.error(e);
    if (!res.headersSent) sendError(res, 500, String(e && e.message || e), 'server_error', null);
    else res.end();
  }
});

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  server.listen(port, '127.0.0.1', () => {
    console.log(`mock peft4j serve on http://127.0.0.1:${port}/ models=${models.join(',')} key=${apiKey ? 'set' : 'none'}`);
  });
}
