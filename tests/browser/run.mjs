// Browser flows against a real `kefu demo` on SQLite, driven by playwright-core and Debian's
// chromium (no browser download is possible here).
//
//   KEFU_BIN=target/debug/kefu node tests/browser/run.mjs [substring …]
//
// Each flows/*.mjs exports `name` and `async function run({ page, context, baseUrl, shot })`;
// they run in file-name order, each in a fresh browser context. Arguments, if given, keep only
// the flows whose file name or `name` contains one of them. The last line printed is always
// `N passed, N failed`; the exit code is non-zero when anything failed or nothing ran.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const flowsDir = path.join(here, 'flows');
const shotsDir = path.join(here, 'screenshots');

const READY_TIMEOUT_MS = 120_000;
const FLOW_TIMEOUT_MS = Number(process.env.KEFU_FLOW_TIMEOUT_MS || 90_000);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const kefuBin =
  process.env.KEFU_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(repo, 'target'), 'debug', 'kefu');

let kefu = null; // child process
let kefuLog = ''; // last ~256 KiB of kefu's stdout+stderr
let browser = null;
let dataDir = null;

function log(msg) {
  process.stdout.write(`${msg}\n`);
}

function finish(passed, failed) {
  log(`${passed} passed, ${failed} failed`);
  return failed > 0 || passed === 0 ? 1 : 0;
}

function kefuTail(lines = 60) {
  const all = kefuLog.trimEnd().split('\n');
  return all.slice(-lines).map((l) => `  | ${l}`).join('\n');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function killKefuSync() {
  if (kefu && kefu.exitCode === null && kefu.signalCode === null) {
    try {
      kefu.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function stopKefu() {
  if (!kefu || kefu.exitCode !== null || kefu.signalCode !== null) return;
  const exited = new Promise((resolve) => kefu.once('exit', resolve));
  kefu.kill('SIGTERM');
  const timer = setTimeout(killKefuSync, 10_000);
  await exited;
  clearTimeout(timer);
}

function cleanupSync() {
  killKefuSync();
  if (dataDir && !process.env.KEFU_KEEP_DATA) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    dataDir = null;
  }
}

process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`browser: got ${sig}, stopping kefu`);
    cleanupSync();
    process.exit(130);
  });
}

async function startKefu(port) {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefu-browser-'));
  const args = ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--customers', '300'];
  log(`browser: starting ${kefuBin} ${args.join(' ')}`);
  if (!fs.existsSync(kefuBin)) {
    throw new Error(`kefu binary not found at ${kefuBin} (set KEFU_BIN or run cargo build -p kefu)`);
  }
  const env = { ...process.env };
  // The browser tests run on SQLite in dataDir, whatever database the shell points at.
  delete env.KEFU_DATABASE_URL;
  delete env.KEFU_DATA_DIR;
  kefu = spawn(kefuBin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const append = (chunk) => {
    kefuLog += chunk.toString();
    if (kefuLog.length > 262_144) kefuLog = kefuLog.slice(-262_144);
  };
  kefu.stdout.on('data', append);
  kefu.stderr.on('data', append);
  const spawnError = new Promise((_, reject) => kefu.once('error', reject));
  spawnError.catch(() => {}); // observed below through Promise.race

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const started = Date.now();
  while (true) {
    if (kefu.exitCode !== null || kefu.signalCode !== null) {
      throw new Error(`kefu exited before it was ready (code ${kefu.exitCode}, signal ${kefu.signalCode})`);
    }
    try {
      const res = await Promise.race([
        fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }),
        spawnError,
      ]);
      if (res.status === 200) break;
    } catch (e) {
      if (e && e.syscall && e.syscall.startsWith('spawn')) {
        throw new Error(`cannot start kefu (${e.code}): ${kefuBin}`);
      }
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`kefu not ready: GET /readyz did not return 200 within ${READY_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  log(`browser: kefu ready at ${baseUrl} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return baseUrl;
}

async function loadFlows(filters) {
  const files = fs
    .readdirSync(flowsDir)
    .filter((f) => f.endsWith('.mjs'))
    .sort();
  const flows = [];
  for (const file of files) {
    const mod = await import(pathToFileURL(path.join(flowsDir, file)).href);
    if (typeof mod.run !== 'function' || typeof mod.name !== 'string') {
      throw new Error(`flows/${file} must export \`name\` (string) and \`run\` (async function)`);
    }
    if (filters.length && !filters.some((f) => file.includes(f) || mod.name.includes(f))) continue;
    flows.push({ file, name: mod.name, run: mod.run });
  }
  return flows;
}

function safeName(s) {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

async function runFlow(flow, baseUrl) {
  const context = await browser.newContext({
    baseURL: baseUrl,
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(30_000);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console.error: ${m.text()}`);
  });
  const shot = async (name) => {
    const file = path.join(shotsDir, `${safeName(name)}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
  const started = Date.now();
  let timer;
  try {
    await Promise.race([
      flow.run({ page, context, baseUrl, shot }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`flow timed out after ${FLOW_TIMEOUT_MS / 1000} s`)), FLOW_TIMEOUT_MS);
      }),
    ]);
    log(`  ok     ${flow.file} (${flow.name}) ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return true;
  } catch (e) {
    log(`  FAILED ${flow.file} (${flow.name}) ${((Date.now() - started) / 1000).toFixed(1)} s`);
    log(`    at ${page.url()}`);
    log(String((e && e.stack) || e).split('\n').slice(0, 12).map((l) => `    ${l}`).join('\n'));
    for (const pe of pageErrors.slice(0, 10)) log(`    ${pe}`);
    try {
      const file = path.join(shotsDir, `FAILED-${safeName(flow.name)}.png`);
      await page.screenshot({ path: file, fullPage: true, timeout: 10_000 });
      log(`    screenshot: ${path.relative(repo, file)}`);
    } catch (se) {
      log(`    (no screenshot: ${se.message.split('\n')[0]})`);
    }
    return false;
  } finally {
    clearTimeout(timer);
    await context.close().catch(() => {});
  }
}

async function main() {
  const filters = process.argv.slice(2);
  fs.mkdirSync(shotsDir, { recursive: true });
  const flows = await loadFlows(filters);
  if (flows.length === 0) {
    log('browser: no flows to run');
    return finish(0, 0);
  }

  let baseUrl;
  try {
    baseUrl = await startKefu(await freePort());
  } catch (e) {
    log(`browser: ERROR: ${e.message}`);
    log(kefuLog.trim() ? `browser: kefu output (last lines):\n${kefuTail()}` : 'browser: kefu printed nothing');
    log(`browser: none of the ${flows.length} flow(s) could run`);
    return finish(0, flows.length);
  }

  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  } catch (e) {
    log(`browser: ERROR: cannot launch ${CHROMIUM}: ${e.message.split('\n')[0]}`);
    await stopKefu();
    return finish(0, flows.length);
  }

  let passed = 0;
  let failed = 0;
  log(`browser: ${flows.length} flow(s)`);
  for (const flow of flows) {
    if (kefu.exitCode !== null || kefu.signalCode !== null) {
      log(`  FAILED ${flow.file} (${flow.name}): kefu is no longer running`);
      failed += 1;
      continue;
    }
    if (await runFlow(flow, baseUrl)) passed += 1;
    else failed += 1;
  }

  await browser.close().catch(() => {});
  const crashed = kefu.exitCode !== null || kefu.signalCode !== null;
  await stopKefu();
  fs.writeFileSync(path.join(shotsDir, 'kefu.log'), kefuLog);
  if (failed > 0 || crashed) {
    if (crashed) log(`browser: kefu exited during the run (code ${kefu.exitCode}, signal ${kefu.signalCode})`);
    log(`browser: kefu output (last lines; all in ${path.relative(repo, shotsDir)}/kefu.log):\n${kefuTail()}`);
  }
  return finish(passed, failed);
}

let code = 1;
try {
  code = await main();
} catch (e) {
  log(`browser: ERROR: ${(e && e.stack) || e}`);
  log('0 passed, 1 failed');
  code = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  await stopKefu().catch(() => {});
  cleanupSync();
}
process.exit(code);
