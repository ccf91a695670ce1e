// The IP restriction on the security page (RISK-3): allow this address, deny the rest; a rule
// that would shut out this very address is refused with a message beside the section.
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

test('allow this address, deny the rest, and never lock yourself out', async () => {
  const account = sesame.createAccount({ email: 'ip@example.com', first: 'Ida', last: 'Pee', country: 'GB' });
  const context = await browser.newContext({ locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(`${sesame.base}/login`);
  await page.fill('#login', account.nic_handle);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(`${sesame.base}/`), page.click('#submit')]);
  await page.goto(`${sesame.base}/security`);
  assert.match(await page.textContent('#ip-cidr-hint'), /127\.0\.0\.1/);
  assert.deepEqual(await seriousViolations(page), []);

  // Denying everything else first would shut this address out: refused, with the reason.
  await page.selectOption('#ip-default', 'deny');
  await Promise.all([page.waitForURL(/error=IP_RULES_WOULD_LOCK_YOU_OUT/), page.click('#ip-default-save')]);
  assert.match(await page.textContent('#ip'), /IP_RULES_WOULD_LOCK_YOU_OUT/, 'beside the section');
  assert.doesNotMatch(await page.textContent('#twofa'), /IP_RULES/);

  // Allow this address, then deny the rest.
  await page.fill('#ip-cidr', '127.0.0.1');
  await Promise.all([page.waitForURL(/saved=ip/), page.click('#ip-add')]);
  assert.match(await page.textContent('#ip-rule-1'), /127\.0\.0\.1\/32 · allow/);
  await page.selectOption('#ip-default', 'deny');
  await Promise.all([page.waitForURL(/saved=ip/), page.click('#ip-default-save')]);
  assert.equal(await page.inputValue('#ip-default'), 'deny');
  assert.deepEqual(await seriousViolations(page), []);
  await context.close();
});
