// The emailed code of an unusual login in the browser (LOGIN-3): a browser that never logged in,
// on a network the account never used, gets the code step; the code read from the mail (a real
// SMTP server) ends the login; the same browser later goes straight in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSesame, startSmtp, launchBrowser, seriousViolations, PASSWORD } from '../lib/harness.mjs';

let sesame;
let smtp;
let browser;

before(async () => {
  smtp = await startSmtp();
  sesame = await startSesame({ SESAME_SMTP_URL: smtp.url, SESAME_RISK__LOGIN_EMAIL_CODE: 'unusual' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await sesame?.stop();
  smtp?.stop();
});

async function logIn(page, nic) {
  await page.goto(`${sesame.base}/login`);
  await page.fill('#login', nic);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
}

test('an unusual login asks for the code mailed to the account', async () => {
  const account = sesame.createAccount({ email: 'eve@example.com', first: 'Eve', last: 'Mail', country: 'GB' });
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  await logIn(page, account.nic_handle);
  assert.match(page.url(), /\/login\/[0-9a-f-]+\/email/);
  assert.match(await page.textContent('#sent-to'), /e•••@example\.com/);
  assert.match(await page.textContent('#code-hint'), /spam/);
  assert.deepEqual(await seriousViolations(page), []);
  const mail = await smtp.waitFor((m) => m.includes('eve@example.com') && /login code/.test(m), 'the login code');
  const code = mail.match(/\b(\d{6})\b/)[1];
  await page.fill('#code', code === '000000' ? '111111' : '000000');
  await page.click('#submit');
  assert.match(await page.textContent('#error-summary'), /LOGIN_CODE_INVALID/);
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#submit')]);
  assert.equal((await page.textContent('#home-nic')).trim(), account.nic_handle);
  // The same browser is known now: straight in.
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);
  await logIn(page, account.nic_handle);
  assert.equal(page.url(), `${sesame.base}/`);
  await context.close();
});
