// SMS in the browser (MFA-4): add a phone on the security page (the code read from the texts the
// development server captures at /dev/sms), then a security key, an app and a second, named phone
// beside it (MFA-1), log out, and log in through "Try another method" with a code texted to the
// phone the customer picks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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

/// The code of the newest text captured for `phone`, once the SMS worker has written it.
async function textedCode(context, phone, count) {
  const page = await context.newPage();
  try {
    for (let i = 0; i < 100; i += 1) {
      await page.goto(`${sesame.base}/dev/sms`);
      const texts = (await page.locator('article pre').allTextContents()).filter((t) => t.includes(phone));
      if (texts.length >= count) return texts[0].match(/\b(\d{6})\b/)[1];
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no text ${count} to ${phone}`);
  } finally {
    await page.close();
  }
}

async function logIn(page, nic) {
  await page.goto(`${sesame.base}/login`);
  await page.fill('#login', nic);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
}

test('add a phone, a key, an app and a named second phone, then log in with a code texted to the phone picked', async () => {
  const account = sesame.createAccount({ email: 'sms@example.com', first: 'Sol', last: 'Mendes', country: 'GB' });
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  await logIn(page, account.nic_handle);
  await page.goto(`${sesame.base}/security`);
  await page.fill('#phone', '+44 7700 900123');
  await Promise.all([page.waitForLoadState('load'), page.click('#add-phone')]);
  assert.match(await page.textContent('h1'), /Check your phone/);
  assert.match(await page.textContent('#sent-to'), /\+44 ••• ••• •23/);
  assert.deepEqual(await seriousViolations(page), []);
  const enrolledAt = Date.now();
  await page.fill('#code', await textedCode(context, '+447700900123', 1));
  await Promise.all([page.waitForLoadState('load'), page.click('#enable')]);
  assert.equal((await page.locator('#backup-codes code').allTextContents()).length, 10);
  await page.click('#done');
  assert.match(await page.textContent('.device[data-kind=sms]'), /SMS/);

  // A security key and an authenticator app beside the phone: no new backup codes.
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'usb', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.fill('#key-name', 'YubiKey 5');
  await Promise.all([page.waitForURL(/saved=2fa/), page.click('#add-key')]);
  await Promise.all([page.waitForLoadState('load'), page.click('#add-app')]);
  await page.click('#show-secret');
  const secret = (await page.textContent('#totp-secret')).replace(/\s/g, '');
  await page.fill('#code', execFileSync('oathtool', ['--totp', '-b', secret]).toString().trim());
  await Promise.all([page.waitForURL(/saved=2fa/), page.click('#enable')]);
  // A second phone, named: one text per 30 s per account (MFA-4), the first phone's was the last.
  await new Promise((r) => setTimeout(r, Math.max(0, enrolledAt + 31000 - Date.now())));
  await page.fill('#phone', '+44 7700 900456');
  await page.fill('#phone-name', 'Work phone');
  await Promise.all([page.waitForLoadState('load'), page.click('#add-phone')]);
  const secondAt = Date.now();
  await page.fill('#code', await textedCode(context, '+447700900456', 1));
  await Promise.all([page.waitForURL(/saved=2fa/), page.click('#enable')]);
  assert.equal(await page.locator('.device[data-kind]').count(), 4);
  assert.deepEqual(
    await page.locator('.device[data-kind]').evaluateAll((items) => items.map((i) => i.dataset.kind)),
    ['totp', 'security_key', 'sms', 'sms'],
    'the app and the key before SMS (MFA-1)',
  );
  assert.match(await page.textContent('.device[data-kind=sms]:last-child'), /Work phone/);
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, 'security-devices');
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);

  // SMS is never pre-selected: the app (added last) opens; SMS sends a code only when asked.
  await logIn(page, account.nic_handle);
  assert.match(page.url(), /method=totp/);
  await page.click('#try-another');
  await Promise.all([page.waitForLoadState('load'), page.click('#method-sms')]);
  assert.match(page.url(), /method=sms/);
  assert.equal(await page.locator('#sent-to').count(), 0, 'nothing sent on a page load');
  // Two phones: the one added last is picked unless the customer picks the other.
  assert.deepEqual(
    (await page.locator('#phones label').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim()),
    ['+44 ••• ••• •56', '+44 ••• ••• •23'],
  );
  assert.equal(await page.isChecked('#phone-1'), true);
  await page.check('#phone-2');
  await screenshot(page, 'second-step-phones');
  // One text per 30 s per account (MFA-4): the second phone's enrolment was the last.
  await new Promise((r) => setTimeout(r, Math.max(0, secondAt + 31000 - Date.now())));
  await Promise.all([page.waitForLoadState('load'), page.click('#send-sms')]);
  assert.match(await page.textContent('#sent-to'), /•23/);
  assert.equal(await page.isChecked('#phone-2'), true, 'the choice stays picked for a resend');
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#code', await textedCode(context, '+447700900123', 2));
  await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#submit')]);
  assert.equal((await page.textContent('#home-nic')).trim(), account.nic_handle);
  await context.close();
});
