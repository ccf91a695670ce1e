// "Show password" (ASVS 2.1.12): the button is hidden until this script runs, so it never shows
// where it can't work; it switches the field between hidden and plain text and says which.
(function () {
  'use strict';
  for (const button of document.querySelectorAll('button[data-reveal]')) {
    const input = document.getElementById(button.dataset.reveal);
    if (!input) continue;
    button.hidden = false;
    button.addEventListener('click', () => {
      const shown = input.type === 'text';
      input.type = shown ? 'password' : 'text';
      button.setAttribute('aria-pressed', String(!shown));
      button.textContent = shown ? button.dataset.show : button.dataset.hide;
      input.focus();
    });
  }
})();
