/* console.js: the admin console (docs/portal.md). Talks to the JSON API with the session
 * cookie, which is HttpOnly: this script never sees it. Every value from the server goes into
 * the page through textContent, never as HTML. */
'use strict';

var tenant = sessionStorage.getItem('custos.tenant') || '';
var role = sessionStorage.getItem('custos.role') || '';

/* Whether to offer the request decisions (acknowledge): the roles holding data_erase
 * (src/core/roles.c). Only a hint for the page: the API checks every call itself, and answers
 * 403 to a role without the permission however the call was made. */
function mayDecide() {
  return role === 'owner' || role === 'admin';
}

function $(id) { return document.getElementById(id); }

function say(text, isError) {
  var s = $('status');
  s.textContent = text;
  s.className = isError ? 'error' : '';
}

/* One API call: JSON in and out, the cookie sent (same origin only), the body's error message
 * turned into an exception. */
function api(method, path, body) {
  var init = { method: method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(path, init).then(function (res) {
    return res.text().then(function (text) {
      var data = text ? JSON.parse(text) : {};
      if (!res.ok) {
        var err = new Error(data.error ? data.error.message : 'HTTP ' + res.status);
        err.status = res.status;
        throw err;
      }
      return data;
    });
  });
}

function cell(row, text, cls) {
  var td = document.createElement('td');
  td.textContent = text;
  /* Its column's name, shown before it when a narrow screen stacks the rows (portal.css). */
  td.setAttribute('data-label', $('queue').tHead.rows[0].cells[row.cells.length].textContent);
  if (cls) td.className = cls;
  row.appendChild(td);
}

/* The due date of a request's next step: acknowledging it, then answering it. */
function nextDue(q) {
  return q.acknowledged_at ? q.answer_due : q.acknowledge_due;
}

function showQueue(list) {
  var body = $('queue').tBodies[0];
  body.textContent = '';
  list.sort(function (a, b) {
    if (a.open !== b.open) return a.open ? -1 : 1;
    return nextDue(a) < nextDue(b) ? -1 : nextDue(a) > nextDue(b) ? 1 : 0;
  });
  list.forEach(function (q) {
    var tr = document.createElement('tr');
    var flag = q.overdue ? 'Overdue' : q.due_soon ? 'Due soon' : q.open ? 'Open' : 'Closed';
    if (q.overdue) tr.className = 'overdue';
    else if (q.due_soon) tr.className = 'due-soon';
    cell(tr, q.id);
    cell(tr, q.type);
    cell(tr, q.state);
    cell(tr, (nextDue(q) || '').slice(0, 10));
    cell(tr, flag, 'flag');
    cell(tr, '');
    if (mayDecide() && q.open && !q.acknowledged_at) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'ack';
      b.textContent = 'Acknowledge';
      b.setAttribute('aria-label', 'Acknowledge request ' + q.id);
      b.addEventListener('click', function () { acknowledge(q.id); });
      tr.lastChild.appendChild(b);
    }
    body.appendChild(tr);
  });
  $('queue-empty').hidden = list.length !== 0;
}

function acknowledge(id) {
  var base = '/v1/tenants/' + encodeURIComponent(tenant) + '/requests/';
  api('POST', base + encodeURIComponent(id) + '/acknowledge').then(function () {
    return loadTenant();
  }).then(function () {
    say('Request ' + id + ' acknowledged.');
  }).catch(function (e) { say(e.message, true); });
}

function loadTenant() {
  return api('GET', '/v1/tenants/' + encodeURIComponent(tenant)).then(function (t) {
    $('tenant-name').textContent = t.name;
    return api('GET', '/v1/tenants/' + encodeURIComponent(tenant) + '/requests');
  }).then(function (d) {
    $('login-view').hidden = true;
    $('queue-view').hidden = false;
    $('logout').hidden = false;
    showQueue(d.requests || []);
    say('');
  });
}

function signIn(ev) {
  ev.preventDefault();
  var body = { email: $('email').value, password: $('password').value };
  if ($('totp').value) body.totp = $('totp').value;
  tenant = $('tenant').value.trim();
  if (!/^[0-9]+$/.test(tenant)) {
    say('The organisation id is a number.', true);
    $('tenant').focus();
    return;
  }
  say('Signing in…');
  api('POST', '/v1/tenants/' + tenant + '/login', body).then(function (who) {
    role = who.role || '';
    sessionStorage.setItem('custos.tenant', tenant);
    sessionStorage.setItem('custos.role', role);
    $('password').value = '';
    $('totp').value = '';
    return loadTenant();
  }).catch(function (e) {
    say(e.message, true);
    $('password').focus();
  });
}

function signOut() {
  api('POST', '/v1/logout').catch(function () {}).then(function () {
    sessionStorage.removeItem('custos.tenant');
    sessionStorage.removeItem('custos.role');
    role = '';
    $('tenant-name').textContent = '';
    $('queue-view').hidden = true;
    $('logout').hidden = true;
    $('login-view').hidden = false;
    $('login').reset();
    say('Signed out.');
  });
}

document.addEventListener('DOMContentLoaded', function () {
  /* Nothing an earlier visit typed survives a reload (browsers restore form fields). */
  $('login').reset();
  $('login').addEventListener('submit', signIn);
  $('logout').addEventListener('click', signOut);
  /* Only with a tenant from this tab's sign-in: a fresh visitor makes no call (and so no
   * 401 in the console). */
  if (tenant) loadTenant().catch(function () { sessionStorage.removeItem('custos.tenant'); });
});
