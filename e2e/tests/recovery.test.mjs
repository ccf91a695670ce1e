// Getting back in, in the browser (RECOVER-1..5), with mail through a real SMTP server: a reset
// from "Forgot your password?", a password change, a backup email proved by its code, and a
// lost-devices request with an identity document uploaded and confirmed from the mailed link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { startSesame, startSmtp, launchBrowser, seriousViolations, screenshot, PASSWORD } from '../lib/harness.mjs';

const NEW_PASSWORD = 'purple elephants dance at noon';
const ID_CARD = resolve('../crates/server/tests/fixtures/id-card.png');

let sesame;
let smtp;
let browser;

before(async () => {
  smtp = await startSmtp();
  sesame = await startSesame({ SESAME_SMTP_URL: smtp.url });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await sesame?.stop();
  smtp?.stop();
});

/// A link from a mail: the harness listens on port 0, and the default public URL that mail links
/// are built from names the port actually bound.
function mailedLink(mail, pattern) {
  const link = mail.match(pattern)[0];
  assert.ok(link.startsWith(`${sesame.base}/`), `${link} is on ${sesame.base}`);
  return link;
}

async function newPage() {
  const context = await browser.newContext({ locale: 'en-GB' });
  return { context, page: await context.newPage() };
}

async function logIn(page, login, password = PASSWORD) {
  await page.goto(`${sesame.base}/login`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
}

async function logOut(page) {
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);
}

test('forgot password: a mailed link and the customer ID set a new one', async () => {
  const account = sesame.createAccount({ email: 'rita@example.com', first: 'Rita', last: 'Reset', country: 'GB' });
  const { context, page } = await newPage();
  await page.goto(`${sesame.base}/login`);
  await Promise.all([page.waitForLoadState('load'), page.click('#forgot')]);
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, 'recover');
  await page.fill('#login', 'rita@example.com');
  await Promise.all([page.waitForLoadState('load'), page.click('#send-link')]);
  assert.match(await page.textContent('#sent'), /If an account has this customer ID/);
  const mail = await smtp.waitFor((m) => m.includes('rita@example.com') && m.includes('/password-reset/'), 'the reset link');
  assert.ok(mail.includes(account.nic_handle), 'the mail reminds the customer ID');
  const link = mailedLink(mail, /http:\/\/[^\s"<]+\/password-reset\/[0-9a-f]{64}/);
  await page.goto(link);
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#nic_handle', 'zz99999-ovh');
  await page.fill('#password', NEW_PASSWORD);
  await page.fill('#password2', NEW_PASSWORD);
  await page.click('#submit');
  assert.match(await page.textContent('#error-summary'), /NIC_HANDLE_MISMATCH/);
  assert.equal(await page.getAttribute('#nic_handle', 'aria-invalid'), 'true');
  await page.fill('#nic_handle', account.nic_handle);
  await page.fill('#password', NEW_PASSWORD);
  await page.fill('#password2', 'something else entirely');
  await page.click('#submit');
  assert.match(await page.textContent('#error-summary'), /PASSWORDS_DIFFER/);
  await page.fill('#password', NEW_PASSWORD);
  await page.fill('#password2', NEW_PASSWORD);
  await screenshot(page, 'password-reset');
  await page.click('#submit');
  assert.match(await page.textContent('#reset-done'), /password was changed/);
  await logIn(page, account.nic_handle, NEW_PASSWORD);
  assert.equal(page.url(), `${sesame.base}/`);
  await context.close();
});

test('change the password, then add a backup email proved by its code', async () => {
  const account = sesame.createAccount({ email: 'carl@example.com', first: 'Carl', last: 'Change', country: 'GB' });
  const { context, page } = await newPage();
  await logIn(page, account.nic_handle);
  await page.goto(`${sesame.base}/security`);
  await Promise.all([page.waitForLoadState('load'), page.click('#change-password')]);
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#current_password', 'not my password at all');
  await page.fill('#password', NEW_PASSWORD);
  await page.fill('#password2', NEW_PASSWORD);
  await page.click('#submit');
  assert.match(await page.textContent('#error-summary'), /CURRENT_PASSWORD_INVALID/);
  await page.fill('#current_password', PASSWORD);
  await page.fill('#password', NEW_PASSWORD);
  await page.fill('#password2', NEW_PASSWORD);
  await Promise.all([page.waitForURL(/saved=password/), page.click('#submit')]);
  assert.match(await page.textContent('#password-saved'), /password was changed/);

  await Promise.all([page.waitForLoadState('load'), page.click('#manage-backup')]);
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#email', 'carl.backup@example.org');
  await Promise.all([page.waitForURL(/sent=1/), page.click('#send-code')]);
  assert.match(await page.textContent('#backup-sent'), /c•••@example\.org/);
  assert.match(await page.textContent('#code-hint'), /spam/);
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, 'backup-email');
  const mail = await smtp.waitFor((m) => m.includes('carl.backup@example.org') && /confirmation code/.test(m), 'the code');
  const code = mail.match(/\b(\d{6})\b/)[1];
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(/saved=backup/), page.click('#verify')]);
  assert.match(await page.textContent('#backup-email'), /c•••@example\.org/);
  assert.deepEqual(await seriousViolations(page), [], 'security page with its addresses');
  await logOut(page);
  await logIn(page, account.nic_handle, NEW_PASSWORD);
  assert.equal(page.url(), `${sesame.base}/`);
  await context.close();
});

/// The code oathtool computes now (an independent TOTP implementation).
function oath(secret) {
  return execFileSync('oathtool', ['--totp', '-b', secret]).toString().trim();
}

test('lost devices: a request with an identity document, confirmed from the mail', async () => {
  const account = sesame.createAccount({ email: 'lou@example.com', first: 'Lou', last: 'Lost', country: 'GB' });
  const { context, page } = await newPage();
  await logIn(page, account.nic_handle);
  await page.goto(`${sesame.base}/security`);
  await Promise.all([page.waitForLoadState('load'), page.click('#add-app')]);
  await page.click('#show-secret');
  const secret = (await page.textContent('#totp-secret')).replace(/\s/g, '');
  await page.fill('#code', oath(secret));
  await Promise.all([page.waitForLoadState('load'), page.click('#enable')]);
  await page.click('#done');
  await logOut(page);

  await logIn(page, account.nic_handle);
  await Promise.all([page.waitForLoadState('load'), page.click('#lost-devices')]);
  assert.deepEqual(await seriousViolations(page), []);
  await Promise.all([page.waitForURL(/\/recover\/request\//), page.click('#start-request')]);
  const requestUrl = page.url();
  assert.match(await page.textContent('#document-count'), /0 of 3/);
  assert.deepEqual(await seriousViolations(page), []);
  await page.setInputFiles('#document', ID_CARD);
  await Promise.all([page.waitForURL(/added=1/), page.click('#upload')]);
  assert.match(await page.textContent('#document-count'), /1 of 3/);
  await screenshot(page, 'lost-devices-request');
  await Promise.all([page.waitForLoadState('load'), page.click('#submit-request')]);
  assert.equal(await page.getAttribute('#request-status', 'data-status'), 'awaiting_confirmation');
  const mail = await smtp.waitFor((m) => m.includes('lou@example.com') && m.includes('/recovery/confirm?token='), 'the confirmation link');
  const link = mailedLink(mail, /http:\/\/[^\s"<]+\/recovery\/confirm\?token=[0-9a-f]{64}/);
  await page.goto(link);
  assert.deepEqual(await seriousViolations(page), []);
  await page.click('#link-submit');
  assert.match(await page.textContent('#link-done'), /request is confirmed/);
  await page.goto(requestUrl);
  assert.equal(await page.getAttribute('#request-status', 'data-status'), 'pending_review');
  await context.close();
});
