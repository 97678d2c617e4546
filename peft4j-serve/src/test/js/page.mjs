// Drives the comparison page of `peft4j serve` in headless Chromium and checks three models answer side by side.
//
// Usage: node page.mjs URL OUT_DIR MODEL1 MODEL2 MODEL3 [PROMPT]
//   env PEFT4J_API_KEY  optional: typed into the page's API key field
//   env CHROMIUM        the browser binary (default /usr/bin/chromium)
//   env PEFT4J_MAX_TOKENS  optional: typed into the page's max tokens field (the page's default is 64)
//
// Prints {"answers": {model: text, ...}} as one JSON line on stdout, saves OUT_DIR/compare-page.png (full page),
// exits 0 when every column finished with a non-empty answer and no error, 1 otherwise (saying why on stderr).

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [url, outDir, ...rest] = process.argv.slice(2);
if (!url || !outDir || rest.length < 3 || rest.length > 4) {
  console.error('usage: node page.mjs URL OUT_DIR MODEL1 MODEL2 MODEL3 [PROMPT]   (env PEFT4J_API_KEY, CHROMIUM)');
  process.exit(2);
}
const models = rest.slice(0, 3);
const prompt = rest[3] ?? 'Once upon a time';
const apiKey = process.env.PEFT4J_API_KEY || '';
const screenshot = path.join(outDir, 'compare-page.png');
fs.mkdirSync(outDir, { recursive: true });

const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new'],
});
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 800 } });
  page = await context.newPage();
  let keyTyped = !apiKey;
  page.on('console', msg => {
    if (msg.type() !== 'error') return;
    // with a key, the page's first /v1/models (sent before the key is typed) is expected to get a 401
    console.error(`browser console error${keyTyped ? '' : ' (before the API key was typed)'}: ${msg.text()}`);
  });
  page.on('pageerror', err => console.error(`browser page error: ${err.message}`));
  page.on('requestfailed', req => console.error(`browser request failed: ${req.method()} ${req.url()} ${req.failure()?.errorText}`));

  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30000 });

  if (apiKey) {
    // fill() fires "input"; the page re-lists the models with the key
    await page.fill('#apikey', apiKey);
    await page.locator('#apikey').dispatchEvent('change');
    keyTyped = true;
  }

  // wait until every requested model has its checkbox
  try {
    await page.waitForFunction(
      wanted => {
        const have = new Set(Array.from(document.querySelectorAll('#models input[type=checkbox]')).map(i => i.value));
        return wanted.every(m => have.has(m));
      },
      models, { timeout: 30000 });
  } catch (e) {
    const listed = await page.$$eval('#models input[type=checkbox]', els => els.map(e => e.value));
    const err = await page.textContent('#error').catch(() => '');
    throw new Error(`model checkboxes for ${JSON.stringify(models)} did not appear; listed ${JSON.stringify(listed)}`
      + (err ? `; #error says ${JSON.stringify(err)}` : ''));
  }

  // check exactly the given models
  for (const box of await page.locator('#models input[type=checkbox]').all()) {
    const value = await box.getAttribute('value');
    await box.setChecked(models.includes(value));
  }

  await page.fill('#prompt', prompt);
  if (process.env.PEFT4J_MAX_TOKENS) await page.fill('#max-tokens', process.env.PEFT4J_MAX_TOKENS);
  await page.click('#run');

  try {
    await page.waitForFunction(
      n => {
        const cols = document.querySelectorAll('#answers .answer');
        return cols.length === n && Array.from(cols).every(c => c.dataset.done === 'true');
      },
      models.length, { timeout: 60000 });
  } catch (e) {
    const state = await page.$$eval('#answers .answer', els => els.map(e => `${e.dataset.model}: done=${e.dataset.done}`));
    throw new Error(`the answers did not all finish within 60 s: ${JSON.stringify(state)}`);
  }

  const columns = await page.$$eval('#answers .answer', els => els.map(e => ({
    model: e.dataset.model,
    text: e.querySelector('.text')?.textContent ?? '',
    error: e.querySelector('.error') !== null || (e.querySelector('.text')?.classList.contains('error') ?? false),
    stats: e.querySelector('.stats')?.textContent ?? '',
  })));

  const answers = {};
  for (const m of models) {
    const col = columns.find(c => c.model === m);
    if (!col) { problems.push(`no column for ${m}`); continue; }
    answers[m] = col.text;
    if (col.error) problems.push(`${m}: error shown: ${col.text}`);
    else if (col.text.trim() === '') problems.push(`${m}: empty answer`);
    console.error(`# ${m}: ${col.stats}`);
  }
  const extra = columns.filter(c => !models.includes(c.model)).map(c => c.model);
  if (extra.length) problems.push(`columns for unrequested models: ${JSON.stringify(extra)}`);

  console.log(JSON.stringify({ answers }));
} catch (e) {
  problems.push(e.message);
} finally {
  if (page) {
    try {
      await page.screenshot({ path: screenshot, fullPage: true });
      console.error(`# screenshot ${screenshot}`);
    } catch (e) {
      problems.push(`screenshot failed: ${e.message}`);
    }
  }
  await browser.close();
}

if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.error('ok page: every model answered');
process.exit(0);
