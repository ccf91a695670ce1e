// Two-factor authentication in the browser: enrol an authenticator app (secret read from the
// page, codes from oathtool), log in with it, then with "Try another method" and a backup code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startSesame, launchBrowser, seriousViolations, screenshot, PASSWORD } from '../lib/harness.mjs';

let sesame;
let browser;
let account;
let appCodes;

before(async () => {
  sesame = await startSesame();
  account = sesame.createAccount({ email: 'kim@example.com', first: 'Kim', last: 'Tran', country: 'GB' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await sesame?.stop();
});

/// The code oathtool computes, `offset` seconds from now (an independent TOTP implementation).
function oath(secret, offset = 0) {
  const when = new Date(Date.now() + offset * 1000).toISOString();
  return execFileSync('oathtool', ['--totp', '-b', '--now', when, secret]).toString().trim();
}

async function logIn(page, password = PASSWORD) {
  await page.goto(`${sesame.base}/login`);
  await page.fill('#login', account.nic_handle);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
}

test('enrol an app, then log in with it and with a backup code', async () => {
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  await logIn(page);
  await page.goto(`${sesame.base}/security`);
  assert.equal(await page.inputValue('#app-name'), 'Authenticator app', 'a translated default name');
  await page.fill('#app-name', 'Work phone');
  await Promise.all([page.waitForLoadState('load'), page.click('#add-app')]);
  assert.match(await page.textContent('h1'), /Add an authenticator app/);
  assert.ok(await page.isVisible('.qr svg'), 'the QR code shows');
  assert.equal(await page.isVisible('#totp-secret'), false);
  await page.click('#show-secret');
  assert.match((await page.textContent('#totp-secret')).trim(), /^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/, 'in groups of four');
  const secret = (await page.textContent('#totp-secret')).replace(/\s/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await screenshot(page, 'enrol-app');
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#code', oath(secret));
  await Promise.all([page.waitForLoadState('load'), page.click('#enable')]);
  const codes = (await page.locator('#backup-codes code').allTextContents()).map((c) => c.trim());
  assert.equal(codes.length, 10);
  assert.deepEqual(await seriousViolations(page), [], 'backup codes page');
  codes.forEach((c) => assert.match(c, /^[0-9a-z]{5}-[0-9a-z]{5}$/));
  appCodes = codes;
  assert.match(await page.textContent('h1'), /Your backup codes/);
  // #15 item 11: the account and the date on them; download, copy and print.
  const heading = await page.textContent('#codes-for');
  assert.match(heading, new RegExp(`Backup codes for ${account.nic_handle}, made on \\d+\\s\\w+\\s\\d{4}`));
  assert.equal(await page.getAttribute('#download-codes', 'download'), `backup-codes-${account.nic_handle}.txt`);
  const file = decodeURIComponent((await page.getAttribute('#download-codes', 'href')).replace(/^data:text\/plain;charset=utf-8,/, ''));
  assert.ok(file.startsWith(heading.trim()), 'the file starts with the account and date');
  codes.forEach((c) => assert.ok(file.includes(c), `the file holds ${c}`));
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.click('#copy-codes');
  await page.waitForFunction(() => document.getElementById('copy-status').textContent !== '', null, { timeout: 5000 });
  assert.match(await page.textContent('#copy-status'), /Copied/);
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.ok(copied.includes(codes[9]) && copied.includes(account.nic_handle));
  assert.equal(await page.isVisible('#print-codes'), true);
  await screenshot(page, 'backup-codes');
  await page.click('#done');
  assert.match(await page.textContent('#twofa'), /Work phone/, 'the name chosen at enrolment');
  assert.match(await page.textContent('#twofa-state'), /is on/);
  assert.match(await page.textContent('#backup-left'), /10/);
  assert.deepEqual(await seriousViolations(page), [], 'security page with 2FA on');
  await screenshot(page, 'security-2fa');
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);

  // The app: the password alone leads to the second step, which offers the app first.
  await logIn(page);
  assert.match(page.url(), /\/login\/[0-9a-f-]+\?method=totp/);
  assert.match(await page.textContent('label[for=code]'), /authenticator app/);
  assert.match(await page.textContent('#account-hint'), /k•••@example\.com/, 'the step names the account');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'code', 'the code field has the focus');
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, 'second-step');
  // The enrolment used the current time step; the next one is within the allowed drift.
  await page.fill('#code', oath(secret, 30));
  await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#submit')]);
  assert.equal((await page.textContent('#home-nic')).trim(), account.nic_handle);
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);

  // A backup code through "Try another method".
  await logIn(page);
  await page.click('#try-another');
  await Promise.all([page.waitForLoadState('load'), page.click('#method-backup_code')]);
  assert.match(await page.textContent('label[for=code]'), /backup codes/);
  await page.fill('#code', codes[0].toUpperCase());
  await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#submit')]);
  await page.goto(`${sesame.base}/security`);
  assert.match(await page.textContent('#backup-left'), /9/);
  // New codes only once the customer ticked that the current ones stop working (in French here).
  await page.goto(`${sesame.base}/security?lang=fr`);
  await Promise.all([page.waitForLoadState('load'), page.click('#regenerate')]);
  assert.match(await page.textContent('#error-summary'), /Cochez la case/);
  assert.match(await page.textContent('#backup-left'), /9/, 'nothing was replaced');
  assert.deepEqual(await seriousViolations(page), []);
  await page.goto(`${sesame.base}/security?lang=en`);
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);

  // The step now opens on the method used last; the same backup code does not work twice.
  await logIn(page);
  assert.match(page.url(), /method=backup_code/);
  assert.ok(await page.locator('#method-totp').count(), 'the app is still offered');
  await page.fill('#code', codes[0]);
  await page.click('#submit');
  assert.match(await page.textContent('#error-summary'), /SECOND_FACTOR_INVALID/);
  await page.click('#lost-devices');
  assert.match(await page.textContent('h1'), /Lost access/);
  assert.deepEqual(await seriousViolations(page), []);
  await context.close();
});

test('the second step says how many tries are left, then offers to log in again', async () => {
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  await logIn(page);
  for (let i = 1; i <= 4; i += 1) {
    await page.fill('#code', '000000');
    await page.click('#submit');
    assert.match(await page.textContent('#error-summary'), /SECOND_FACTOR_INVALID/);
    const left = await page.locator('#tries-left').count();
    assert.equal(left > 0, 5 - i <= 2, `try ${i}: the count shows only when few tries remain`);
  }
  assert.match(await page.textContent('#tries-left'), /: 1\./);
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#code', '000000');
  await page.click('#submit');
  assert.match(await page.textContent('#error-code'), /SECOND_FACTOR_TOO_MANY_ATTEMPTS/);
  await Promise.all([page.waitForURL(/\/login$/), page.click('#start-again')]);
  assert.equal(await page.inputValue('#login'), account.nic_handle, 'the identifier is kept (#15 item 2)');
  assert.equal(await page.inputValue('#password'), '');
  await context.close();
});

test('removing the last device asks to confirm that 2FA will be off', async () => {
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  // A backup code at login proves another factor: the app may then go without its own code.
  await logIn(page);
  await page.goto(`${page.url().split('?')[0]}?method=backup_code`);
  await page.fill('#code', appCodes[1]);
  await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#submit')]);
  await page.goto(`${sesame.base}/security`);
  assert.ok(await page.isVisible('#confirm-off-1'), 'the last device asks');
  await Promise.all([page.waitForURL(/error=TWO_FACTOR_OFF_CONFIRM_REQUIRED/), page.click('#remove-1')]);
  assert.match(await page.textContent('#twofa-state'), /is on/, 'nothing removed');
  assert.deepEqual(await seriousViolations(page), []);
  await page.check('#confirm-off-1');
  await Promise.all([page.waitForURL(/saved=2fa/), page.click('#remove-1')]);
  assert.doesNotMatch(await page.textContent('#twofa-state'), /is on/);
  await context.close();
});
