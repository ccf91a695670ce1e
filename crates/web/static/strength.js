// Password strength meter (PWD-2): an indication while typing; the server's policy decides.
(function () {
  const input = document.getElementById('password');
  const meter = document.getElementById('strength');
  const value = document.getElementById('strength-value');
  if (!input || !meter || !value) return;
  const labels = (value.dataset.labels || '').split('|');
  input.addEventListener('input', function () {
    const pw = input.value;
    const length = Array.from(pw).length;
    let kinds = 0;
    for (const re of [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/]) if (re.test(pw)) kinds += 1;
    const unique = new Set(Array.from(pw)).size;
    // The rules the page states: the length set (`data-min`, 12 by default), or under the classic
    // policy 8 of every kind.
    const min = Number(input.dataset.min) || 12;
    const enough = input.hasAttribute('data-classic') ? length >= 8 && kinds === 4 : length >= min;
    let score = 0;
    if (enough) score = 1;
    if (enough && unique >= 8) score = 2;
    if (enough && length >= 16 && unique >= 10) score = 3;
    if (enough && length >= 20 && unique >= 12 && kinds >= 2) score = 4;
    meter.value = score;
    value.textContent = labels[score] || String(score);
  });
})();
