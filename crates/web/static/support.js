// The support console's two WebAuthn ceremonies (SUPPORT-1): register the agent's key from an
// invitation, or use it to log in. The server's options are in the button's data; the browser's
// answer goes into the form's hidden field, and the form posts as any other.
(function () {
  'use strict';
  const button = document.getElementById('use-agent-key');
  if (!button) return;
  const status = document.getElementById('key-status');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const options = JSON.parse(button.dataset.options);
      let credential;
      if (button.dataset.mode === 'create') {
        const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
        credential = await navigator.credentials.create({ publicKey });
      } else {
        const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
        credential = await navigator.credentials.get({ publicKey });
      }
      document.getElementById('credential').value = JSON.stringify(credential.toJSON());
      document.getElementById('key-form').submit();
    } catch (err) {
      if (status) status.textContent = (err && err.message) || String(err);
      button.disabled = false;
    }
  });
})();
