// Sessions, known devices and activity on the security page (SESS-4, RISK-2, AUDIT-2): two
// browsers log in; one sees both sessions and logs the other out.
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

async function loggedIn(account) {
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(`${sesame.base}/login`);
  await page.fill('#login', account.nic_handle);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#submit')]);
  return { context, page };
}

test('see both sessions, log the other one out, see it in the activity', async () => {
  const account = sesame.createAccount({ email: 'two@example.com', first: 'Tess', last: 'Two', country: 'GB' });
  const laptop = await loggedIn(account);
  const phone = await loggedIn(account);
  await laptop.page.goto(`${sesame.base}/security`);
  assert.equal(await laptop.page.locator('#session-list .device').count(), 2);
  assert.match(await laptop.page.textContent('#session-1'), /this session/);
  assert.equal(await laptop.page.locator('#known-list .device').count(), 2, 'each browser is a known device');
  assert.match(await laptop.page.textContent('#known-1'), /This browser|A browser/);
  assert.deepEqual(await seriousViolations(laptop.page), []);
  await Promise.all([laptop.page.waitForURL(/saved=sessions/), laptop.page.click('#end-others')]);
  assert.equal(await laptop.page.locator('#session-list .device').count(), 1);
  assert.match(await laptop.page.textContent('#activity'), /Session ended/);
  // The phone's session is over.
  await phone.page.goto(`${sesame.base}/security`);
  assert.match(phone.page.url(), /\/login/);
  await laptop.context.close();
  await phone.context.close();
});
