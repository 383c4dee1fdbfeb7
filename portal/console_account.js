/* console_account.js: the console's account page (docs/portal.md): a user sets up two-factor
 * sign-in (TOTP, P-ACC-2) for itself through POST .../users/{me}/totp (its password again,
 * and the current code when replacing an authenticator) and POST .../users/{me}/totp/confirm
 * (a code from the new one). Every role has it (`self`); the API lets a user enrol itself
 * alone. The key is shown once and wiped from the page when the setup ends. Needs
 * console.js. */
'use strict';

function me() {
  return sessionStorage.getItem('custos.user') || '';
}

/* Back to the first step, every typed or shown secret gone. */
function totpReset() {
  $('totp-form').reset();
  $('totp-confirm-form').reset();
  $('totp-confirm-form').hidden = true;
  $('totp-secret').textContent = '';
  $('totp-uri').removeAttribute('href');
  $('totp-form').hidden = !me();
  $('account-sso').hidden = !!me();
}

function totpStart(ev) {
  ev.preventDefault();
  if (!me()) return;
  var body = { password: $('totp-password').value };
  if ($('totp-current').value) body.code = $('totp-current').value.trim();
  api('POST', tpath('users', me(), 'totp'), body).then(function (r) {
    /* Signed out or gone to another page meanwhile: the key is not shown at all. */
    if (!me() || $('account-view').hidden) return;
    var m = /[?&]secret=([A-Z2-7]+)/.exec(r.otpauth_uri || '');
    $('totp-form').reset();
    $('totp-form').hidden = true;
    $('totp-secret').textContent = m ? m[1].replace(/(.{4})/g, '$1 ').trim() : '';
    $('totp-uri').href = r.otpauth_uri;
    $('totp-confirm-form').hidden = false;
    $('totp-code').focus();
    say('Add the key to your authenticator app, then give the code it shows.');
  }).catch(function (e) {
    say(e.message, true);
    $('totp-password').focus();
  });
}

function totpConfirm(ev) {
  ev.preventDefault();
  var code = $('totp-code').value.trim();
  if (!/^[0-9]{6}$/.test(code)) {
    say('The code is the 6 digits your authenticator app shows.', true);
    $('totp-code').focus();
    return;
  }
  api('POST', tpath('users', me(), 'totp', 'confirm'), { code: code }).then(function () {
    totpReset();
    say('Two-factor sign-in is on: from now on, signing in asks for a code.');
  }).catch(function (e) {
    say(e.message, true);
    $('totp-code').focus();
  });
}

consoleView('account-view', totpReset);

document.addEventListener('DOMContentLoaded', function () {
  $('totp-form').addEventListener('submit', totpStart);
  $('totp-confirm-form').addEventListener('submit', totpConfirm);
  $('totp-cancel').addEventListener('click', function () {
    totpReset();
    say('');
    $('totp-password').focus();
  });
});
document.addEventListener('console:signed-out', totpReset);
/* Another page: the key and every typed value leave this one (review-s10b 3). */
document.addEventListener('console:view', function (ev) {
  if (ev.detail !== 'account-view') totpReset();
});
