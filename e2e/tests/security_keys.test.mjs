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
