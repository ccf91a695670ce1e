// SMS in the browser (MFA-4): add a phone on the security page (the code read from the texts the
// development server captures at /dev/sms), log out, log in with a texted code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSesame, launchBrowser, seriousViolations, PASSWORD } from '../lib/harness.mjs';

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

test('add a phone, then log in with a texted code', async () => {
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
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login$/), page.click('#logout')]);

  // The second step offers SMS and sends a code only when asked.
  await logIn(page, account.nic_handle);
  assert.match(page.url(), /method=sms/);
  assert.equal(await page.locator('#sent-to').count(), 0, 'nothing sent on a page load');
  // One text per 30 s per account (MFA-4): the enrolment's was the last.
  await new Promise((r) => setTimeout(r, Math.max(0, enrolledAt + 31000 - Date.now())));
  await Promise.all([page.waitForLoadState('load'), page.click('#send-sms')]);
  assert.match(await page.textContent('#sent-to'), /•23/);
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#code', await textedCode(context, '+447700900123', 2));
  await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#submit')]);
  assert.equal((await page.textContent('#home-nic')).trim(), account.nic_handle);
  await context.close();
});
