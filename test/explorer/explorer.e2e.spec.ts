/// <reference lib="dom" />
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, startProjections, type EventStore, type ProjectionDaemon } from '../../src/index.js';
import { serveHttp, type Serving } from '../../src/http/index.js';
import { seedDemo } from '../../src/cli/demo.js';

// The explorer in a real browser: Debian's Chromium driven by playwright-core.
const CHROMIUM = '/usr/bin/chromium';
const reason = existsSync(CHROMIUM) ? undefined : `no browser at ${CHROMIUM} (apt-get install chromium)`;
if (reason && process.env.CI) throw new Error(`the explorer test needs a browser: ${reason}`);
if (reason) console.warn(`skipping the explorer browser test: ${reason}`);

const TOKEN = 'the-token-of-the-browser-test';
const ARTIFACTS = join(process.cwd(), 'artifacts');
const XSS = '<img src=x onerror="window.__xss=1">';

describe.skipIf(reason !== undefined)('the explorer page', () => {
  const dir = mkdtempSync(join(tmpdir(), 'factline-explorer-'));
  let store: EventStore;
  let daemon: ProjectionDaemon;
  let serving: Serving;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    store = await openStore(`sqlite:${join(dir, 'explorer.db')}`);
    const demo = await seedDemo(store);
    await store.append(XSS, [{ type: XSS, data: { html: XSS, script: '<script>window.__xss=2</script>' }, metadata: { note: XSS } }]);
    daemon = await startProjections(store, demo.projections);
    serving = await serveHttp(store, { port: 0, token: TOKEN, deciders: demo.deciders, projections: demo.projections });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => {
      problems.push(`a dialog opened: ${d.message()}`);
      void d.dismiss();
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await serving?.close();
    await daemon?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds a stream by prefix and moves the time-travel slider to see the state after each version', async () => {
    await page.goto(`${serving.url}#token=${TOKEN}`);
    // The token moved from the address into the session, out of the URL and its history.
    await page.waitForFunction(() => !location.hash.includes('token'));
    expect(await page.evaluate(() => Object.values(sessionStorage) as string[])).toContain(TOKEN);

    await page.fill('#stream-search', 'account-a');
    await page.waitForFunction(() => document.querySelectorAll('.stream-link').length === 2);
    expect(await page.locator('.stream-link').allTextContents()).toEqual(['account-ada', 'account-alan']);
    await page.click('.stream-link >> text=account-ada');

    const slider = page.locator('#time-travel');
    await slider.waitFor();
    expect(await slider.getAttribute('max')).toBe('8');
    await slider.fill('3');
    await page.waitForFunction(() => document.querySelector('#time-travel-version')?.textContent?.includes('version 3 of 8'));
    await page.waitForFunction(() => document.querySelector('#state')?.textContent?.includes('1025'));
    expect(JSON.parse((await page.textContent('#state'))!)).toEqual({ owner: 'ada', balance: 1025, transfers: ['transfer-001'] });
    const diff = await page.locator('#state-diff li').allTextContents();
    expect(diff.join('\n')).toMatch(/balance[\s\S]*1000[\s\S]*1025/);
    expect(diff.join('\n')).toContain('transfers[0]');
    expect(await page.getAttribute('.event-row.current', 'data-version')).toBe('3');

    await page.click('#time-travel-prev');
    await page.waitForFunction(() => document.querySelector('#time-travel-version')?.textContent?.includes('version 2 of 8'));
    await page.waitForFunction(() => document.querySelector('#state')?.textContent?.includes('"balance": 1000'));
    await page.locator('#time-travel').fill('3');
    await page.waitForFunction(() => document.querySelector('#state')?.textContent?.includes('1025'));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-time-travel.png'), fullPage: false });
  });

  it('shows event data that looks like HTML as text, and runs none of it', async () => {
    await page.goto(`${serving.url}#/streams?prefix=${encodeURIComponent('<img')}`);
    await page.waitForFunction(() => document.querySelectorAll('.stream-link').length === 1);
    expect(await page.textContent('.stream-link')).toBe(XSS);
    await page.click('.stream-link');
    await page.waitForSelector('.event-row');
    const shown = await page.textContent('#stream-events');
    expect(shown).toContain(XSS);
    expect(shown).toContain('<script>window.__xss=2</script>');
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator('#stream-events img').count()).toBe(0);
  });

  it('shows the causes of an event, projection lag, and rebuilds a projection with the token', async () => {
    const [withdrawal] = await collectOne(store, 'MoneyWithdrawn');
    await page.goto(`${serving.url}#/event/${withdrawal!}`);
    await page.waitForSelector('#causes');
    expect(await page.textContent('#causes')).toContain('TransferRequested');
    expect(await page.textContent('#effects')).toContain('MoneyDeposited');

    // From the request: every effect, indented by its depth, and the correlation's events a click away.
    const [request] = await collectOne(store, 'TransferRequested');
    await page.goto(`${serving.url}#/event/${request!}`);
    await page.waitForSelector('#effects');
    const effects = await page.locator('#effects li').evaluateAll((items) => items.map((li) => `${li.querySelector('.event-type')?.textContent} ${(li as HTMLElement).dataset.depth}`));
    expect(effects).toEqual(['MoneyWithdrawn 1', 'MoneyDeposited 2', 'TransferCompleted 2']);
    await page.click('#correlation-id');
    await page.waitForSelector('#correlation-events .event-row');
    expect(await page.locator('#correlation-events .event-type').allTextContents()).toEqual(['TransferRequested', 'MoneyWithdrawn', 'MoneyDeposited', 'TransferCompleted']);

    await page.goto(`${serving.url}#/projections`);
    const row = page.locator('[data-projection="balances"]');
    await row.waitFor();
    await page.click('[data-rebuild="balances"]');
    await page.waitForFunction(async () => {
      const r = await fetch('api/projections');
      const body = (await r.json()) as { projections: { name: string; generation: number }[] };
      return body.projections.find((p) => p.name === 'balances')?.generation === 2;
    });
    // The page follows the rebuild to its end (it refreshes every 2 s): 56 demo events and the one above.
    await page.waitForFunction(() => document.querySelector('[data-projection="balances"]')?.textContent?.includes('rebuilt 57 / 57'), undefined, { timeout: 10_000 });
    expect(problems.filter((p) => !/status of 4\d\d/.test(p))).toEqual([]);
  });
});

async function collectOne(store: EventStore, type: string): Promise<string[]> {
  for await (const e of store.readAll({ types: [type], limit: 1 })) return [e.id];
  return [];
}
