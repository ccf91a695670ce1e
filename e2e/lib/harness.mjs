// Browser-test harness: starts the real `sesame` binary on a free port with a fresh data folder,
// creates accounts through its CLI, and drives Debian's Chromium with playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const BIN = resolve(process.env.SESAME_BIN ?? '../target/debug/sesame');
export const PASSWORD = 'correct horse battery staple';

export async function startSesame(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-e2e-'));
  const env = {
    PATH: process.env.PATH,
    SESAME_DATA_DIR: dir,
    SESAME_LISTEN: '127.0.0.1:0',
    SESAME_METRICS_LISTEN: '127.0.0.1:0',
    // Tests log in from fresh browsers; the email-code test asks for LOGIN-3 itself.
    SESAME_RISK__LOGIN_EMAIL_CODE: 'never',
    SESAME_ARGON2__M_COST_KIB: '256',
    SESAME_ARGON2__T_COST: '1',
    ...extraEnv,
  };
  const createAccount = ({ email, first, last, country = 'FR', password = PASSWORD }) => {
    const out = execFileSync(BIN, ['account', 'create', '--email', email, '--first-name', first,
      '--last-name', last, '--country', country, '--json'], { env, input: password + '\n' });
    return JSON.parse(out.toString());
  };
  // Any other command of the binary, on the same data (its standard output).
  const cli = (args, input = '') => execFileSync(BIN, args, { env, input }).toString();
  // Development mode: the tests read codes at /dev/mail and /dev/sms as a developer would.
  const child = spawn(BIN, ['serve', '--dev'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stderr.on('data', (d) => { logs += d; });
  const base = await new Promise((resolveBase, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolveBase(`http://localhost:${m[1]}`);
    });
    child.on('exit', (code) => reject(new Error(`sesame exited with ${code}: ${logs}`)));
  });
  const stop = async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  return { base, createAccount, cli, stop, logs: () => logs };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/// Runs axe-core in the page; returns the serious and critical violations.
export async function seriousViolations(page) {
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') }).catch(async () => {
    // The CSP forbids injected scripts; evaluate axe's source directly instead.
    const { readFileSync } = await import('node:fs');
    await page.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  });
  const results = await page.evaluate(async () => await globalThis.axe.run(document, {
    resultTypes: ['violations'],
  }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/// Saves a screenshot under docs/screenshots when SESAME_SCREENSHOTS is set.
export async function screenshot(page, name) {
  if (!process.env.SESAME_SCREENSHOTS) return;
  await page.screenshot({ path: resolve(`../docs/screenshots/${name}.png`), fullPage: true });
}

/// A port nothing listens on now (the system picks it, outside the range it hands to clients).
function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/// A real SMTP server (aiosmtpd) writing to a Maildir, for reading codes the way a customer would.
/// It is started again on another port if it isn't answering within 10 s (a port taken meanwhile,
/// a slow start on busy cores): a test must not wait for mail from a server that never came up.
export async function startSmtp() {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-smtp-'));
  const maildir = join(dir, 'Maildir');
  const up = (port) => new Promise((resolveUp) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => { socket.end(); resolveUp(true); });
    socket.on('error', () => resolveUp(false));
  });
  let child;
  let port;
  for (let attempt = 0; attempt < 5 && !child; attempt += 1) {
    port = await freePort();
    const candidate = spawn('python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`,
      '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: 'ignore' });
    let exited = false;
    candidate.once('exit', () => { exited = true; });
    let answering = false;
    for (let i = 0; i < 500 && !exited && !answering; i += 1) {
      answering = await up(port);
      if (!answering) await new Promise((r) => setTimeout(r, 20));
    }
    if (answering && !exited) child = candidate;
    else candidate.kill();
  }
  if (!child) throw new Error('aiosmtpd did not start');
  const messages = () => {
    const folder = join(maildir, 'new');
    if (!existsSync(folder)) return [];
    return readdirSync(folder).sort().map((f) => decodeMessage(readFileSync(join(folder, f), 'utf8')));
  };
  const waitFor = async (predicate, what) => {
    // Up to 20 s: the mail worker shares two busy cores with the browser and the server.
    for (let i = 0; i < 1000; i += 1) {
      const found = messages().find(predicate);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no mail: ${what}`);
  };
  const stop = () => { child.kill(); rmSync(dir, { recursive: true, force: true }); };
  return { url: `smtp://127.0.0.1:${port}`, messages, waitFor, stop };
}

/// The raw message with base64 and quoted-printable parts decoded (enough to read codes).
function decodeMessage(raw) {
  let text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
  for (const block of raw.matchAll(/Content-Transfer-Encoding: base64\r?\n\r?\n([A-Za-z0-9+/=\r\n]+)/g)) {
    text += '\n' + Buffer.from(block[1].replace(/\s/g, ''), 'base64').toString('utf8');
  }
  return text;
}
