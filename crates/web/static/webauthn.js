// Security keys (MFA-3) in the browser: the only pages that need JavaScript. The server's JSON
// API does the work; this file passes its WebAuthn options to the browser and the browser's
// answer back (WebAuthn Level 3 JSON helpers, so no base64 glue).
(function () {
  'use strict';
  const status = document.getElementById('key-status');
  const say = (text) => { if (status) status.textContent = text; };

  async function call(url, body, method) {
    const res = await fetch(url, {
      method: method || 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body || {}),
      credentials: 'same-origin',
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.error && data.error.message) || res.statusText);
      err.code = data && data.error && data.error.code;
      throw err;
    }
    return data;
  }

  async function assertion(options) {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
    const credential = await navigator.credentials.get({ publicKey });
    return credential.toJSON();
  }

  function failed(err) {
    if (err && err.code === 'REAUTH_REQUIRED') {
      location.assign('/reauth?return_to=%2Fsecurity');
      return;
    }
    say((err && err.message) || String(err));
  }

  // The second login step: answer the flow's challenge with a key.
  const use = document.getElementById('use-key');
  if (use) {
    use.addEventListener('click', async () => {
      use.disabled = true;
      try {
        const flow = use.dataset.flow;
        const challenge = await call('/api/v1/session/second-factor/challenge', { flow, method: 'security_key' });
        const credential = await assertion(challenge.options);
        const done = await call('/api/v1/session/second-factor', { flow, method: 'security_key', credential });
        // RECOVER-6: after support promoted the backup email, a new one comes first.
        const to = use.dataset.returnTo || '/';
        const due = done && done.account && done.account.backup_email_required;
        location.assign(due ? '/security/backup-email?return_to=' + encodeURIComponent(to) : to);
      } catch (err) {
        failed(err);
        use.disabled = false;
      }
    });
  }

  // The security page: add a key; the first device shows the backup codes once.
  const add = document.getElementById('add-key');
  if (add) {
    add.addEventListener('click', async () => {
      add.disabled = true;
      try {
        const name = document.getElementById('key-name');
        const start = await call('/api/v1/me/2fa/security-keys', { description: name ? name.value : '' });
        const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(start.options.publicKey);
        const created = await navigator.credentials.create({ publicKey });
        const done = await call('/api/v1/me/2fa/devices/' + start.id + '/enable', { credential: created.toJSON() });
        if (done.backup_codes) {
          const list = document.getElementById('backup-codes');
          for (const c of done.backup_codes) {
            const item = document.createElement('li');
            const code = document.createElement('code');
            code.textContent = c;
            item.appendChild(code);
            list.appendChild(item);
          }
          document.getElementById('key-codes').hidden = false;
          document.getElementById('done').focus();
        } else {
          location.assign('/security?saved=2fa#sec-2fa');
        }
      } catch (err) {
        failed(err);
      }
      add.disabled = false;
    });
  }

  // The security page: remove a key with a last touch of it (MFA-6).
  for (const button of document.querySelectorAll('button.remove-key')) {
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const url = '/api/v1/me/2fa/devices/' + button.dataset.id;
        const challenge = await call(url + '/challenge');
        const credential = await assertion(challenge.options);
        await call(url, { credential }, 'DELETE');
        location.assign('/security?saved=2fa#sec-2fa');
      } catch (err) {
        failed(err);
        button.disabled = false;
      }
    });
  }
})();
