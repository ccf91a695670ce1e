// The login form tells the server the browser's time zone, so that dates on the security page
// read as the customer's clock does (#15 item 8). Without JavaScript, they stay in UTC, said so.
const field = document.getElementById('tz');
if (field && typeof Intl === 'object') {
  field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
}
