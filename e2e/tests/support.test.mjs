// The support desk in Chromium (SUPPORT-1..5), agents' keys being DevTools virtual authenticators:
// an agent and a supervisor are invited from the CLI, enrol a password and a key, and log in; the
// agent finds a customer by each identifier and promotes the verified backup email; a lost-devices
// request is proposed by the agent, refused to the agent as confirmer, confirmed by the supervisor;
// the customer then logs in with the password alone. axe checks every console page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { startSesame, startSmtp, launchBrowser, seriousViolations, screenshot, PASSWORD } from '../lib/harness.mjs';

const AGENT_PASSWORD = 'the support desk keeps a trail';
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

/// A link on the server's real port (the harness listens on port 0, which the public URL names).
const onServer = (link) => link.replace(/^http:\/\/[^/]+/, sesame.base);

async function customerPage() {
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

/// An agent's browser with a virtual security key: invited, enrolled, logged in.
async function agentBrowser(email, name, role) {
  const link = onServer(sesame.cli(['agent', 'invite', '--email', email, '--name', name, '--role', role]).trim());
  const context = await browser.newContext({ locale: 'en-GB', timezoneId: 'Europe/Paris' });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'usb', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  await page.goto(link);
  assert.deepEqual(await seriousViolations(page), []);
  await page.fill('#password', AGENT_PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
  await Promise.all([page.waitForURL(/\/support\/login\?enrolled=1/), page.click('#use-agent-key')]);
  await page.fill('#email', email);
  await page.fill('#password', AGENT_PASSWORD);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit')]);
  assert.deepEqual(await seriousViolations(page), [], 'the key step');
  await Promise.all([page.waitForURL(`${sesame.base}/support`), page.click('#use-agent-key')]);
  return { context, page };
}

async function search(page, query) {
  await page.goto(`${sesame.base}/support`);
  await page.fill('#q', query);
  await Promise.all([page.waitForLoadState('load'), page.click('#search')]);
  return page.locator('#results li').count();
}

/// Fills the reason and ticket of the form `id` and submits it with `button`.
async function act(page, id, button, reason, ticket) {
  await page.fill(`#reason-${id}`, reason);
  await page.fill(`#ticket-${id}`, ticket);
  await Promise.all([page.waitForLoadState('load'), page.click(button)]);
}

function oath(secret) {
  return execFileSync('oathtool', ['--totp', '-b', secret]).toString().trim();
}

test('agents enrol and log in with a key; a promotion; a two-person approval', async () => {
  // Pat has a verified backup email.
  const pat = sesame.createAccount({ email: 'pat@example.com', first: 'Pat', last: 'Primary', country: 'GB' });
  const customer = await customerPage();
  await logIn(customer.page, pat.nic_handle);
  await customer.page.goto(`${sesame.base}/security/backup-email`);
  await customer.page.fill('#email', 'pat.backup@example.org');
  await Promise.all([customer.page.waitForURL(/sent=1/), customer.page.click('#send-code')]);
  const patCodeAt = Date.now();
  const codeMail = await smtp.waitFor((m) => m.includes('pat.backup@example.org') && /confirmation code/.test(m), 'the code');
  await customer.page.fill('#code', codeMail.match(/\b(\d{6})\b/)[1]);
  await Promise.all([customer.page.waitForURL(/saved=backup/), customer.page.click('#verify')]);
  await logOut(customer.page);

  // Lou has 2FA, has lost the phone, and asks for it to be switched off.
  const lou = sesame.createAccount({ email: 'lou@example.com', first: 'Lou', last: 'Lost', country: 'GB' });
  await logIn(customer.page, lou.nic_handle);
  await customer.page.goto(`${sesame.base}/security`);
  await Promise.all([customer.page.waitForLoadState('load'), customer.page.click('#add-app')]);
  await customer.page.click('#show-secret');
  const secret = (await customer.page.textContent('#totp-secret')).replace(/\s/g, '');
  await customer.page.fill('#code', oath(secret));
  await Promise.all([customer.page.waitForLoadState('load'), customer.page.click('#enable')]);
  await customer.page.click('#done');
  await logOut(customer.page);
  await logIn(customer.page, lou.nic_handle);
  await Promise.all([customer.page.waitForLoadState('load'), customer.page.click('#lost-devices')]);
  await Promise.all([customer.page.waitForURL(/\/recover\/request\//), customer.page.click('#start-request')]);
  await customer.page.setInputFiles('#document', ID_CARD);
  await Promise.all([customer.page.waitForURL(/added=1/), customer.page.click('#upload')]);
  await Promise.all([customer.page.waitForLoadState('load'), customer.page.click('#submit-request')]);
  const confirmMail = await smtp.waitFor((m) => m.includes('lou@example.com') && m.includes('/recovery/confirm?token='), 'the link');
  await customer.page.goto(onServer(confirmMail.match(/http:\/\/[^\s"<]+\/recovery\/confirm\?token=[0-9a-f]{64}/)[0]));
  await customer.page.click('#link-submit');
  assert.match(await customer.page.textContent('#link-done'), /confirmed/);

  // The agent: search by every identifier.
  const alice = await agentBrowser('alice@support.example', 'Alice Martin', 'agent');
  assert.deepEqual(await seriousViolations(alice.page), [], 'console home');
  for (const query of [pat.nic_handle.toUpperCase(), 'PAT@example.com', 'pat.backup@example.org', pat.customer_code.replace(/-/g, '')]) {
    assert.equal(await search(alice.page, query), 1, query);
  }
  await Promise.all([alice.page.waitForLoadState('load'), alice.page.click('#result-1')]);
  assert.deepEqual(await seriousViolations(alice.page), [], 'account summary');
  assert.match(await alice.page.textContent('#backup'), /p•••@example\.org/);
  assert.equal(await alice.page.textContent('#state'), 'active', 'in the agent\'s language');
  // Dates read as the agent's clock: the zone the login form named.
  assert.match(await alice.page.textContent('#events'), /\d{1,2}\s\p{L}+\s\d{4},\s\d\d:\d\d\s\(Europe\/Paris\)/u);
  await screenshot(alice.page, 'support-account');
  await alice.page.click('text=Make the backup email the primary');
  await alice.page.check('#verification-callback');
  await act(alice.page, 'promote', '#do-promote', 'customer lost the primary mailbox', 'T-1001');
  assert.match(await alice.page.textContent('#notice'), /customer was told/);
  // Pat was on the way to the profile page: a new backup email comes first, then the profile.
  await customer.page.goto(`${sesame.base}/login?return_to=%2Fprofile`);
  await customer.page.fill('#login', 'pat.backup@example.org');
  await customer.page.fill('#password', PASSWORD);
  await Promise.all([customer.page.waitForURL(/\/security\/backup-email\?return_to=%2Fprofile$/), customer.page.click('#submit')]);
  assert.match(await customer.page.textContent('#backup-required'), /Please give a new backup email/);
  await customer.page.fill('#email', 'pat.spare@example.org');
  // One code per 30 s per account (MFA-4): Pat's last went out at the start.
  await new Promise((r) => setTimeout(r, Math.max(0, patCodeAt + 31000 - Date.now())));
  await Promise.all([customer.page.waitForURL(/sent=1/), customer.page.click('#send-code')]);
  const spare = await smtp.waitFor((m) => m.includes('pat.spare@example.org') && /confirmation code/.test(m), 'the new code');
  await customer.page.fill('#code', spare.match(/\b(\d{6})\b/)[1]);
  await Promise.all([customer.page.waitForURL(`${sesame.base}/profile`), customer.page.click('#verify')]);
  await logOut(customer.page);

  // The lost-devices request: the agent proposes, can't confirm; the supervisor confirms.
  await alice.page.goto(`${sesame.base}/support`);
  await Promise.all([alice.page.waitForLoadState('load'), alice.page.click('#queue a')]);
  assert.ok(await alice.page.isVisible('img.document-image'), 'the document shows inline');
  // Opened on its own, an uploader's file runs nothing on our origin (a sandbox, no scripts).
  const src = await alice.page.getAttribute('img.document-image', 'src');
  const file = await alice.page.request.get(`${sesame.base}${src}`);
  assert.equal(file.status(), 200);
  assert.match(file.headers()['content-security-policy'], /^sandbox; default-src 'none'/);
  assert.deepEqual(await seriousViolations(alice.page), [], 'review');
  await act(alice.page, 'propose', '#do-propose', 'passport photo matches the account name', 'T-1002');
  assert.match(await alice.page.textContent('#proposal'), /T-1002/);
  await act(alice.page, 'confirm', '#do-confirm', 'I checked it myself', 'T-1002');
  assert.match(await alice.page.textContent('#error-summary'), /SUPPORT_SUPERVISOR_ONLY/);
  const sam = await agentBrowser('sam@support.example', 'Sam Lee', 'supervisor');
  await Promise.all([sam.page.waitForLoadState('load'), sam.page.click('#queue a')]);
  await screenshot(sam.page, 'support-review');
  await act(sam.page, 'confirm', '#do-confirm', 'documents checked a second time', 'T-1002');
  assert.equal(await sam.page.getAttribute('#request-status', 'data-status'), 'approved');
  assert.match(await sam.page.textContent('#request-status'), /approved \(2FA off\)/);

  // Lou: the password alone now; the mail says to set 2FA up again.
  await logIn(customer.page, lou.nic_handle);
  assert.equal(customer.page.url(), `${sesame.base}/`);
  await smtp.waitFor((m) => m.includes('lou@example.com') && /Sam from our support team approved/.test(m), 'the decision');
  await customer.context.close();
  await alice.context.close();
  await sam.context.close();
});
