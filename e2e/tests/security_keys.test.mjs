// Security keys in Chromium (MFA-3, MFA-6): the DevTools virtual authenticator as an old U2F key
// and as a FIDO2 key. Add a key on the security page, log out, log in with it, remove it with a
// touch; axe checks the pages on the way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSesame, launchBrowser, seriousViolations, screenshot, PASSWORD } from '../lib/harness.mjs';

let sesame;
let browser;

before(async () => {
  sesame = await startSesame();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await sesame?.stop();
});

async function logIn(page, nic) {
  await page.goto(`${sesame.base}/login`);
  await page.fill('#login', nic);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
}

async function logOut(page) {
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);
}

const KEYS = {
  u2f: { protocol: 'u2f', transport: 'usb', hasResidentKey: false, hasUserVerification: false },
  ctap2: {
    protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'usb', hasResidentKey: true,
    hasUserVerification: true, isUserVerified: true,
  },
};

for (const [name, options] of Object.entries(KEYS)) {
  test(`a ${name} key: add it, log in with it, remove it with a touch`, async () => {
    const account = sesame.createAccount({ email: `${name}@example.com`, first: 'Ada', last: 'Key', country: 'GB' });
    const context = await browser.newContext({ locale: 'en-GB' });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { automaticPresenceSimulation: true, ...options },
    });

    await logIn(page, account.nic_handle);
    await page.goto(`${sesame.base}/security`);
    await page.fill('#key-name', `My ${name} key`);
    await page.click('#add-key');
    await page.waitForSelector('#key-codes:not([hidden])');
    const codes = await page.locator('#backup-codes code').allTextContents();
    assert.equal(codes.length, 10, 'the first device shows the backup codes');
    assert.deepEqual(await seriousViolations(page), []);
    await page.click('#done');
    assert.match(await page.textContent('#twofa-state'), /is on/);
    assert.match(await page.textContent('.device[data-kind=security_key]'), new RegExp(`My ${name} key`));
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'the key holds one credential');
    await logOut(page);

    // The password leads to the key step, which the key answers.
    await logIn(page, account.nic_handle);
    assert.match(page.url(), /method=security_key/);
    assert.deepEqual(await seriousViolations(page), []);
    if (name === 'ctap2') await screenshot(page, 'second-step-key');
    await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#use-key')]);
    assert.equal((await page.textContent('#home-nic')).trim(), account.nic_handle);
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok(after.credentials[0].signCount > 0, 'the key signed');

    // Removing it needs a fresh login (just done) and a last touch; 2FA is then off.
    await page.goto(`${sesame.base}/security`);
    await Promise.all([page.waitForURL(/saved=2fa/), page.click('#remove-key-1')]);
    assert.match(await page.textContent('#twofa-state'), /is off/);
    await logOut(page);
    await logIn(page, account.nic_handle);
    assert.equal(page.url(), `${sesame.base}/`, 'no second step any more');
    await context.close();
  });
}

/// The newest captured mail (development mode) to `to` that holds a 6-digit code, read at /dev/mail
/// as a developer would.
async function codeMailedTo(page, to) {
  for (let i = 0; i < 100; i += 1) {
    await page.goto(`${sesame.base}/dev/mail`);
    const texts = await page.locator('article.mail pre').allTextContents();
    const mail = texts.find((t) => t.includes(to) && /\b\d{6}\b/.test(t));
    if (mail) return mail.match(/\b(\d{6})\b/)[1];
    await page.waitForTimeout(200);
  }
  throw new Error(`no code mailed to ${to}`);
}

test('after support promoted the backup email, a key login asks for a new one first (RECOVER-6)', async () => {
  const account = sesame.createAccount({ email: 'kim@example.com', first: 'Kim', last: 'Key', country: 'GB' });
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { automaticPresenceSimulation: true, ...KEYS.ctap2 },
  });
  await logIn(page, account.nic_handle);
  await page.goto(`${sesame.base}/security`);
  await page.fill('#key-name', 'Desk key');
  await page.click('#add-key');
  await page.waitForSelector('#key-codes:not([hidden])');
  await page.click('#done');
  await page.goto(`${sesame.base}/security/backup-email`);
  await page.fill('#email', 'kim.spare@example.org');
  await Promise.all([page.waitForURL(/sent=1/), page.click('#send-code')]);
  const code = await codeMailedTo(page, 'kim.spare@example.org');
  await page.goto(`${sesame.base}/security/backup-email`);
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(/saved=backup/), page.click('#verify')]);
  await logOut(page);
  sesame.cli(['account', 'promote-backup-email', account.nic_handle, '--verified-by', 'callback', '--reason', 'lost mailbox', '--ticket', 'T-5']);

  await logIn(page, 'kim.spare@example.org');
  assert.match(page.url(), /method=security_key/);
  await Promise.all([page.waitForURL(/\/security\/backup-email\?return_to=%2F$/), page.click('#use-key')]);
  assert.match(await page.textContent('#backup-required'), /new backup email/);
  await context.close();
});
