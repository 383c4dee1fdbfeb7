/* console_access.js: the console's users, API keys and roles page (docs/portal.md), through
 * the API's own routes: list, create and delete users (`users`), list, create and revoke API
 * keys (`keys`): owner and admin. A new key's secret is shown once, as the API answers it once
 * (P-ACC-3), and leaves the page with the page. Granting follows cu_role_can_grant (P-ACC-1):
 * the page offers only the roles the signed-in role may grant, and the API refuses the rest.
 * Needs console.js. */
'use strict';

/* cu_role_can_grant: an owner grants every tenant role, an admin all but owner and auditor
 * (src/core/roles.c); the same right removes a key or user of that role. */
function grantable() {
  if (role === 'owner') return ['owner', 'admin', 'agent', 'analyst', 'auditor'];
  if (role === 'admin') return ['admin', 'agent', 'analyst'];
  return [];
}

function mayGrant(r) {
  return grantable().indexOf(r) >= 0;
}

function fillRoles(select) {
  var keep = select.value;
  select.textContent = '';
  grantable().forEach(function (r) {
    var o = document.createElement('option');
    o.value = r;
    o.textContent = r;
    /* What a reset form comes back to: the least a new credential usually needs. */
    o.defaultSelected = r === 'agent';
    select.appendChild(o);
  });
  if (mayGrant(keep)) select.value = keep;
  else if (mayGrant('agent')) select.value = 'agent';
}

/* A button that asks again before it acts: the first click arms it for five seconds. */
function twoStep(text, cls, label, act) {
  var armed = null;
  var b = button(text, cls, label, function () {
    if (armed === null) {
      b.textContent = 'Confirm: ' + text.toLowerCase();
      if (label) b.setAttribute('aria-label', 'Confirm: ' + label);
      b.classList.add('armed');
      armed = setTimeout(function () {
        armed = null;
        b.textContent = text;
        if (label) b.setAttribute('aria-label', label);
        b.classList.remove('armed');
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    act();
  });
  return b;
}

function showUsers(list) {
  var body = $('users').tBodies[0], me = sessionStorage.getItem('custos.user');
  body.textContent = '';
  list.forEach(function (u) {
    var tr = newRow('users');
    tr.dataset.id = u.id;
    cell(tr, u.email);
    cell(tr, u.role);
    cell(tr, u.totp ? 'on' : 'off');
    cell(tr, (u.created_at || '').slice(0, 10));
    var td = cell(tr, '', 'actions');
    if (u.id !== me && mayGrant(u.role))
      td.appendChild(twoStep('Delete', 'delete', 'Delete user ' + u.email, function () {
        api('DELETE', tpath('users', u.id)).then(function () {
          return loadAccess();
        }).then(function () {
          say('User ' + u.email + ' deleted.');
          $('nav').querySelector('[aria-current]').focus();
        })
          .catch(function (e) { say(e.message, true); });
      }));
    body.appendChild(tr);
  });
}

function showKeys(list) {
  var body = $('keys').tBodies[0];
  body.textContent = '';
  list.forEach(function (k) {
    var tr = newRow('keys');
    tr.dataset.id = k.id;
    if (k.revoked_at) tr.className = 'refused';
    cell(tr, k.name);
    cell(tr, k.role);
    cell(tr, (k.created_at || '').slice(0, 10));
    cell(tr, k.revoked_at ? 'revoked ' + k.revoked_at.slice(0, 10) : 'active');
    var td = cell(tr, '', 'actions');
    if (!k.revoked_at && mayGrant(k.role))
      td.appendChild(twoStep('Revoke', 'revoke', 'Revoke key ' + k.name, function () {
        api('DELETE', tpath('api-keys', k.id)).then(function () {
          return loadAccess();
        }).then(function () {
          say('Key ' + k.name + ' revoked.');
          $('nav').querySelector('[aria-current]').focus();
        })
          .catch(function (e) { say(e.message, true); });
      }));
    body.appendChild(tr);
  });
}

function hideSecret() {
  $('key-secret').hidden = true;
  $('key-secret-value').textContent = '';
}

function loadAccess() {
  fillRoles($('user-role'));
  fillRoles($('key-role'));
  return Promise.all([api('GET', tpath('users')), api('GET', tpath('api-keys'))])
    .then(function (d) {
      showUsers(d[0].users || []);
      showKeys(d[1].api_keys || []);
    });
}

function createUser(ev) {
  ev.preventDefault();
  var body = { email: $('user-email').value.trim(), password: $('user-password').value,
               role: $('user-role').value };
  api('POST', tpath('users'), body).then(function () {
    $('user-form').reset();
    return loadAccess();
  }).then(function () {
    say('User ' + body.email + ' created as ' + body.role + '.');
  }).catch(function (e) {
    say(e.message, true);
    $('user-email').focus();
  });
}

function createKey(ev) {
  ev.preventDefault();
  var body = { name: $('key-name').value.trim(), role: $('key-role').value };
  hideSecret();
  api('POST', tpath('api-keys'), body).then(function (k) {
    /* P-ACC-3: the only time the secret leaves Custos; it is in no storage, only here. */
    $('key-secret-value').textContent = k.secret;
    $('key-secret').hidden = false;
    $('key-form').reset();
    return loadAccess();
  }).then(function () {
    say('Key ' + body.name + ' created. Copy its secret now: it is shown once.');
  }).catch(function (e) {
    say(e.message, true);
    $('key-name').focus();
  });
}

consoleView('access-view', function () {
  hideSecret();
  return loadAccess();
});

document.addEventListener('DOMContentLoaded', function () {
  $('user-form').addEventListener('submit', createUser);
  $('key-form').addEventListener('submit', createKey);
  /* The secret leaves with the page: another page, or signing out, forgets it. */
  document.querySelectorAll('#nav button').forEach(function (b) {
    b.addEventListener('click', hideSecret);
  });
  document.addEventListener('console:signed-out', hideSecret);
});
