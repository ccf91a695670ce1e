// The login page and the control panel in a real browser (Debian Chromium, headless).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSesame, launchBrowser, seriousViolations, screenshot, PASSWORD } from '../lib/harness.mjs';

let sesame;
let browser;
let jane;

before(async () => {
  sesame = await startSesame({ SESAME_SUPPORT_PHONES__FR: '+33 9 72 10 10 10' });
  jane = sesame.createAccount({ email: 'Jane.Doe@Example.com', first: 'Jane', last: 'Doe' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await sesame?.stop();
});

async function newPage(options = {}) {
  const context = await browser.newContext({ locale: 'en-GB', ...options });
  return { context, page: await context.newPage() };
}

async function logIn(page, login, password = PASSWORD) {
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
}

test('log in by NIC handle, open the name menu, see email and NIC handle, log out', async () => {
  const { context, page } = await newPage();
  await page.goto(`${sesame.base}/login`);
  await screenshot(page, 'login');
  // "Show password" switches the field to plain text and back, and says which it is.
  await page.fill('#password', PASSWORD);
  await page.click('button[data-reveal]');
  assert.equal(await page.getAttribute('#password', 'type'), 'text');
  assert.equal(await page.getAttribute('button[data-reveal]', 'aria-pressed'), 'true');
  await page.click('button[data-reveal]');
  assert.equal(await page.getAttribute('#password', 'type'), 'password');
  await logIn(page, jane.nic_handle.toUpperCase());
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal(await page.textContent('#home-nic'), jane.nic_handle);
  const name = page.locator('#account-name');
  assert.equal((await name.textContent()).trim(), 'Jane Doe');
  assert.equal(await page.isVisible('#account-email'), false, 'the menu starts closed');
  await name.click();
  assert.equal(await page.textContent('#account-email'), 'Jane.Doe@Example.com');
  assert.equal(await page.textContent('#account-nic'), jane.nic_handle);
  const emailBox = await page.locator('#account-email').boundingBox();
  const nicBox = await page.locator('#account-nic').boundingBox();
  assert.ok(nicBox.y > emailBox.y, 'the NIC handle shows under the email');
  await screenshot(page, 'control-panel');
  assert.deepEqual(await seriousViolations(page), []);
  // #15 item 13: Escape closes the menu and gives focus back to the name; so does leaving it.
  await page.keyboard.press('Escape');
  assert.equal(await page.isVisible('#account-email'), false, 'Escape closes the menu');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'account-name');
  await page.keyboard.press('Enter');
  assert.equal(await page.isVisible('#account-email'), true, 'Enter opens it again');
  await page.click('main');
  assert.equal(await page.isVisible('#account-email'), false, 'a click elsewhere closes it');
  await name.click();
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);
  await page.goto(`${sesame.base}/`);
  assert.equal(new URL(page.url()).pathname, '/login', 'after logout the panel asks for a login');
  await context.close();
});

test('/dev/mail shows each mail as text and, in a sandboxed frame, as the customer sees it', async () => {
  const { context, page } = await newPage();
  // The login of the test above sent Jane a notification; wait for the worker to write it.
  for (let i = 0; i < 100; i += 1) {
    await page.goto(`${sesame.base}/dev/mail`);
    if (await page.locator('article.mail iframe').count()) break;
    await page.waitForTimeout(200);
  }
  const first = page.locator('article.mail').first();
  await first.locator('summary').click();
  const frameElement = first.locator('iframe');
  assert.equal(await frameElement.getAttribute('sandbox'), '', 'no script, no same origin');
  const frame = await (await frameElement.elementHandle()).contentFrame();
  await frame.waitForLoadState();
  assert.match(await frame.textContent('body'), /Jane/);
  await screenshot(page, 'dev-mail');
  assert.deepEqual(await seriousViolations(page), []);
  await context.close();
});

test('an explicit subsidiary beats the browser; the switcher on every page picks the language and keeps it', async () => {
  const { context, page } = await newPage({ locale: 'en-GB' });
  await page.goto(`${sesame.base}/login?subsidiary=FR`);
  assert.equal(await page.getAttribute('html', 'lang'), 'fr', '#15 item 6: FR named explicitly speaks French');
  await page.click('#lang-en');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.textContent('h1'), 'Log in to your customer account');
  await page.click('#forgot');
  assert.equal(await page.getAttribute('html', 'lang'), 'en', 'the choice is kept on the next page');
  assert.deepEqual(await seriousViolations(page), []);
  await page.click('#lang-fr');
  assert.match(await page.textContent('h1'), /oublié/);
  assert.deepEqual(await seriousViolations(page), []);
  await context.close();
});

test('a wrong password and an unknown account show the same generic error', async () => {
  const { context, page } = await newPage();
  await page.goto(`${sesame.base}/login`);
  await logIn(page, jane.nic_handle, 'not the right password');
  const wrong = await page.textContent('#error-summary');
  assert.match(wrong, /The customer ID, email or password is incorrect\./);
  assert.match(wrong, /LOGIN_INVALID_CREDENTIALS/);
  assert.equal(await page.inputValue('#password'), '', 'the password is never echoed back');
  assert.equal(await page.getAttribute('#login', 'aria-invalid'), 'true');
  await screenshot(page, 'login-error');
  assert.deepEqual(await seriousViolations(page), []);
  await logIn(page, 'nobody@example.com', 'not the right password');
  assert.equal(await page.textContent('#error-summary'), wrong.replace(jane.nic_handle, 'nobody@example.com'));
  await context.close();
});

test('?subsidiary=FR shows the pages in French when the browser asks for neither language', async () => {
  const { context, page } = await newPage({ locale: 'de-DE' });
  await page.goto(`${sesame.base}/login?subsidiary=FR`);
  assert.equal(await page.getAttribute('html', 'lang'), 'fr');
  assert.equal(await page.textContent('h1'), 'Connexion à votre espace client');
  await page.click('#forgot');
  assert.match(await page.textContent('h1'), /oublié/);
  assert.equal(await page.textContent('#support-phone'), '+33 9 72 10 10 10');
  assert.deepEqual(await seriousViolations(page), []);
  // The alias of the reference system, and the subsidiary remembered across pages.
  await page.goto(`${sesame.base}/login?ovhSubsidiary=gb`);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  await context.close();
});

test('the customer language wins once logged in; return_to stays on allowed places', async () => {
  const { context, page } = await newPage({ locale: 'en-GB', timezoneId: 'Europe/Paris' });
  await page.goto(`${sesame.base}/login?return_to=${encodeURIComponent('https://evil.example/steal')}`);
  await logIn(page, 'jane.doe@example.com');
  assert.equal(page.url(), `${sesame.base}/`, 'another origin is ignored');
  assert.equal(await page.getAttribute('html', 'lang'), 'fr', 'Jane signed up in France: French');
  await page.click('#account-name');
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);
  await page.goto(`${sesame.base}/security`);
  assert.match(page.url(), /\/login\?return_to=%2Fsecurity$/);
  await logIn(page, jane.nic_handle);
  assert.equal(new URL(page.url()).pathname, '/security');
  // #15 item 8: times in French and in the browser's time zone, named.
  assert.match(await page.textContent('#session-list'), /\d{1,2}\s\p{L}+\s\d{4}\sà\s\d\d:\d\d\s\(Europe\/Paris\)/u);
  await screenshot(page, 'security');
  assert.deepEqual(await seriousViolations(page), []);
  // A long page: its contents at the top lead to each section.
  await page.click('#security-toc a[href="#sec-activity"]');
  assert.match(page.url(), /#sec-activity$/);
  const heading = await page.locator('#sec-activity').boundingBox();
  assert.ok(heading.y >= 0 && heading.y < page.viewportSize().height, 'the activity is in view');
  await context.close();
});

test('the profile page: a refused phone shown beside its field, then names, company and language saved', async () => {
  const sam = sesame.createAccount({ email: 'sam.profile@example.com', first: 'Sam', last: 'Lee', country: 'GB' });
  const { context, page } = await newPage();
  await page.goto(`${sesame.base}/login`);
  await logIn(page, sam.nic_handle);
  await Promise.all([page.waitForLoadState('load'), page.click('#nav-profile')]);
  assert.equal(new URL(page.url()).pathname, '/profile');
  assert.equal(await page.inputValue('#first_name'), 'Sam');
  assert.match(await page.textContent('#profile-fixed'), new RegExp(sam.nic_handle));
  await page.fill('#phone', '06 12');
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
  assert.equal(await page.getAttribute('#phone', 'aria-invalid'), 'true');
  assert.match(await page.textContent('#phone-error'), /international/);
  assert.equal(await page.inputValue('#phone'), '06 12', 'what was typed is kept');
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#first_name', 'Samuel');
  await page.check('input[name=account_type][value=company]');
  await page.fill('#company_name', 'Lee & Co');
  await page.fill('#phone', '+44 20 7946 0000');
  await page.selectOption('#language', 'fr');
  await Promise.all([page.waitForURL(/\/profile\?saved=1$/), page.click('#submit')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'fr', 'the pages follow the language chosen');
  assert.match(await page.textContent('#profile-saved'), /enregistré/);
  assert.equal((await page.textContent('#account-name')).trim(), 'Samuel Lee');
  assert.equal(await page.inputValue('#company_name'), 'Lee & Co');
  assert.equal(await page.inputValue('#phone'), '+442079460000');
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, 'profile');
  await context.close();
});

test('pages work without JavaScript', async () => {
  const { context, page } = await newPage({ javaScriptEnabled: false });
  await page.goto(`${sesame.base}/login`);
  await logIn(page, jane.nic_handle);
  assert.equal(new URL(page.url()).pathname, '/');
  await page.click('#account-name');
  assert.equal(await page.textContent('#account-nic'), jane.nic_handle);
  await Promise.all([page.waitForURL(/\/login(\?logged_out=1)?$/), page.click('#logout')]);
  await context.close();
});

test('pages fit a phone screen without horizontal scrolling', async () => {
  const { context, page } = await newPage({ viewport: { width: 360, height: 740 }, locale: 'fr-FR' });
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.goto(`${sesame.base}/login`);
  assert.ok(await overflow() <= 0, 'login page');
  await screenshot(page, 'login-phone');
  await logIn(page, jane.nic_handle);
  await page.click('#account-name');
  for (const path of ['/', '/security', '/recover']) {
    if (path !== '/') await page.goto(`${sesame.base}${path}`);
    assert.ok(await overflow() <= 0, `${path} scrolls sideways`);
  }
  await page.goto(`${sesame.base}/`);
  await page.click('#account-name');
  await screenshot(page, 'control-panel-phone');
  await context.close();
});

test('a form posted from another site is refused', async () => {
  const { context, page } = await newPage();
  const response = await page.request.post(`${sesame.base}/login`, {
    form: { login: jane.nic_handle, password: PASSWORD, csrf: 'x' },
    headers: { origin: 'https://evil.example' },
  });
  assert.equal(response.status(), 403);
  assert.match(await response.text(), /CSRF_REJECTED/);
  await context.close();
});

test('an empty login form asks for what is missing; logging out and being sent to log in say why', async () => {
  for (const [locale, missingLogin, missingPassword, loggedOut, toContinue] of [
    ['en-GB', /Enter your customer ID or email address/, /Enter your password/, /You have been logged out/, /Log in to continue/],
    ['fr-FR', /Saisissez votre identifiant client/, /Saisissez votre mot de passe/, /Vous avez été déconnecté/, /Connectez-vous pour continuer/],
  ]) {
    const { context, page } = await newPage({ locale });
    await page.goto(`${sesame.base}/login`);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'login', 'the first field has the focus');
    await page.click('#submit');
    assert.match(await page.textContent('#error-summary'), missingLogin);
    assert.equal(await page.getAttribute('#login', 'aria-invalid'), 'true');
    assert.equal(await page.getAttribute('#password', 'aria-invalid'), null);
    await page.fill('#login', jane.nic_handle);
    await page.click('#submit');
    assert.match(await page.textContent('#error-summary'), missingPassword);
    assert.equal(await page.getAttribute('#password', 'aria-invalid'), 'true');
    assert.equal(await page.inputValue('#login'), jane.nic_handle, 'the customer ID is kept');
    assert.deepEqual(await seriousViolations(page), []);
    await page.goto(`${sesame.base}/security`);
    assert.match(await page.textContent('#notice'), toContinue);
    await logIn(page, jane.nic_handle);
    // Reloading the address a security form posted to goes back to the security page.
    await page.goto(`${sesame.base}/security/totp`);
    assert.equal(new URL(page.url()).pathname, '/security');
    // A logged-in customer is told so on the sign-up page.
    await page.goto(`${sesame.base}/signup`);
    assert.match(await page.textContent('#already-logged-in'), new RegExp(jane.nic_handle));
    // And on the login page (#15 item 4), with the way out.
    await page.goto(`${sesame.base}/login`);
    assert.match(await page.textContent('#already-logged-in'), new RegExp(jane.nic_handle));
    assert.deepEqual(await seriousViolations(page), []);
    await Promise.all([page.waitForURL(/logged_out=1/), page.click('#logout-here')]);
    assert.match(await page.textContent('#notice'), loggedOut);
    await context.close();
  }
});
