// The backup codes page: copy the codes (with the account and the date) and print them. Without
// JavaScript both buttons stay hidden; the download link works anyway.
const list = document.getElementById('backup-codes');
const heading = document.getElementById('codes-for');
const copy = document.getElementById('copy-codes');
const print = document.getElementById('print-codes');
const status = document.getElementById('copy-status');
if (list && copy && navigator.clipboard) {
  copy.hidden = false;
  copy.addEventListener('click', async () => {
    const codes = [...list.querySelectorAll('code')].map((c) => c.textContent);
    await navigator.clipboard.writeText(`${heading.textContent}\n\n${codes.join('\n')}\n`);
    status.textContent = copy.dataset.copied;
  });
}
if (print) {
  print.hidden = false;
  print.addEventListener('click', () => window.print());
}
