/* console.js: the admin console (docs/portal.md): sign-in, the pages' navigation and the
 * requests queue with its actions. Talks to the JSON API with the session cookie, which is
 * HttpOnly: this script never sees it. Every value from the server goes into the page through
 * textContent, never as HTML. The other pages are in console_*.js, loaded after this file:
 * each registers its section with consoleView(). */
'use strict';

var tenant = sessionStorage.getItem('custos.tenant') || '';
var role = sessionStorage.getItem('custos.role') || '';

/* The role table of src/core/roles.c (P-ACC-1), as a hint for the page only: which pages and
 * buttons to offer. The API checks every call itself, and answers 403 to a role without the
 * permission however the call was made. */
var ROLE_PERMS = {
  owner: ['data_read', 'data_write', 'data_erase', 'schema', 'users', 'keys', 'audit',
          'aggregate', 'self', 'policy'],
  admin: ['data_read', 'data_write', 'data_erase', 'schema', 'users', 'keys', 'aggregate',
          'self'],
  agent: ['data_read', 'data_write', 'self'],
  analyst: ['aggregate', 'self'],
  auditor: ['audit', 'self'],
  /* Platform staff: no tenant of its own, so no tenant page; its tenants page only. */
  operator: ['tenants']
};

function may(perm) {
  return (ROLE_PERMS[role] || []).indexOf(perm) >= 0;
}

/* The request decisions (data_erase): the name the first console's script gave this check. */
function mayDecide() {
  return may('data_erase');
}

function $(id) { return document.getElementById(id); }

function say(text, isError) {
  var s = $('status');
  s.textContent = text;
  s.className = isError ? 'error' : '';
}

/* The API path of the signed-in tenant, each further part encoded. */
function tpath() {
  var p = '/v1/tenants/' + encodeURIComponent(tenant);
  for (var i = 0; i < arguments.length; i++) p += '/' + encodeURIComponent(arguments[i]);
  return p;
}

/* One API call: JSON in and out, the cookie sent (same origin only), the body's error message
 * turned into an exception. */
function api(method, path, body, headers) {
  var init = { method: method, credentials: 'same-origin', headers: headers || {} };
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

/* A table cell holding text, labelled with its column's name for a narrow screen, where
 * portal.css stacks the rows and shows the label before each value. */
function cell(row, text, cls) {
  var td = document.createElement('td');
  var table = $(row.dataset.table);
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (table && table.tHead)
    td.setAttribute('data-label', table.tHead.rows[0].cells[row.cells.length].textContent);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

/* A row for table id: cell() labels its cells from the table's head. */
function newRow(tableId) {
  var tr = document.createElement('tr');
  tr.dataset.table = tableId;
  return tr;
}

function button(text, cls, label, onClick) {
  var b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = text;
  if (label) b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

/* --- pages ---------------------------------------------------------------------------------
 * Each page is a <section class="view"> with a nav button (data-view = the section's id,
 * data-perm = the permission it needs); consoleView(id, load) gives the function that fills
 * it each time it is shown. */
var viewLoaders = {};

function consoleView(id, load) {
  viewLoaders[id] = load;
}

/* Shows page id once it is filled (so a page never shows half loaded), or with the error. */
function showView(id) {
  var load = viewLoaders[id];
  document.querySelectorAll('#nav button').forEach(function (b) {
    if (b.dataset.view === id) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  });
  say('');
  if (id !== 'queue-view') reasonDone(); /* no typed reason or corrected value left behind */
  /* The other pages' scripts clear what they showed once (console_account.js: a TOTP key). */
  document.dispatchEvent(new CustomEvent('console:view', { detail: id }));
  return Promise.resolve().then(load).catch(function (e) { say(e.message, true); })
    .then(function () {
      document.querySelectorAll('section.view').forEach(function (s) { s.hidden = s.id !== id; });
    });
}

function showNav() {
  var first = null;
  document.querySelectorAll('#nav button').forEach(function (b) {
    b.hidden = !may(b.dataset.perm);
    if (!b.hidden && first === null) first = b.dataset.view;
  });
  $('nav').hidden = false;
  return first;
}

/* --- the requests queue -------------------------------------------------------------------- */

/* The due date of a request's next step: acknowledging it, then answering it. */
function nextDue(q) {
  return q.acknowledged_at ? q.answer_due : q.acknowledge_due;
}

/* The steps the API allows a request in its state (docs/dsr.md "States"), offered to the
 * roles holding data_erase. */
function actions(q) {
  var a = [];
  if (!q.open || !mayDecide()) return a;
  if (q.decision === 'pending') a.push('approve');
  else if (!q.acknowledged_at) a.push('ack');
  if (q.state === 'acknowledged') a.push('extend');
  if (q.state === 'acknowledged' || q.state === 'extended') a.push('complete');
  a.push('reject');
  return a;
}

var ACTION_TEXT = { approve: 'Approve', ack: 'Acknowledge', extend: 'Extend…',
                    complete: 'Complete', reject: 'Reject…' };

function showQueue(list) {
  var body = $('queue').tBodies[0];
  body.textContent = '';
  /* In the server's order: open first, by the next due date, then id. */
  list.forEach(function (q) {
    var tr = newRow('queue');
    tr.dataset.id = q.id;
    var flag = q.overdue ? 'Overdue' : q.due_soon ? 'Due soon' : q.open ? 'Open' : 'Closed';
    if (q.overdue) tr.className = 'overdue';
    else if (q.due_soon) tr.className = 'due-soon';
    if (q.decision === 'pending') flag += ', awaiting the controller';
    cell(tr, q.id);
    cell(tr, q.type);
    cell(tr, q.state);
    cell(tr, (nextDue(q) || '').slice(0, 10));
    cell(tr, flag, 'flag');
    var td = cell(tr, '', 'actions');
    actions(q).forEach(function (act) {
      td.appendChild(button(ACTION_TEXT[act], act, ACTION_TEXT[act].replace('…', '') +
                            ' request ' + q.id, function (ev) { act_on(q, act, ev.target); }));
    });
    body.appendChild(tr);
  });
  $('queue-empty').hidden = list.length !== 0;
  $('queue-empty').textContent = $('queue-filter').value === 'all' ? 'No requests.'
    : 'No requests match.';
}

/* The queue is paged on the server (limit, after = the answer's next, docs/api.md), in its
 * order; the page keeps the cursors of the pages before for Previous. */
var QUEUE_PAGE = 50;
var queueCursors = [''];
var queueAsked = 0; /* the latest load's number: an earlier answer that comes later is dropped */

function loadQueue() {
  var after = queueCursors[queueCursors.length - 1], filter = $('queue-filter').value;
  var mine = ++queueAsked;
  return api('GET', tpath('requests') + '?limit=' + QUEUE_PAGE +
             (filter !== 'all' ? '&filter=' + encodeURIComponent(filter) : '') +
             (after ? '&after=' + encodeURIComponent(after) : '')).then(function (d) {
    if (mine !== queueAsked) return;
    showQueue(d.requests || []);
    $('queue-next').disabled = !d.next;
    $('queue-next').dataset.next = d.next || '';
    $('queue-prev').disabled = queueCursors.length < 2;
    $('queue-page').textContent = 'Page ' + queueCursors.length;
  });
}

function queueTurn(forward) {
  if (forward) queueCursors.push($('queue-next').dataset.next);
  else if (queueCursors.length > 1) queueCursors.pop();
  reasonDone();
  loadQueue().catch(function (e) { say(e.message, true); });
}

var PAST = { approve: 'approved', ack: 'acknowledged', complete: 'completed',
             reject: 'rejected', extend: 'extended' };
var ROUTE = { approve: 'approve', ack: 'acknowledge', complete: 'complete', reject: 'reject',
              extend: 'extend' };

/* One step on request q through its API route, then the queue again. */
function post_action(q, act, body) {
  return api('POST', tpath('requests', q.id, ROUTE[act]), body).then(function (r) {
    return loadQueue().then(function () {
      var msg = 'Request ' + q.id + ' ' + PAST[act] + '.';
      /* P-DSR-4: an erasure's completion answers its signed certificate. */
      if (r.certificate) msg += ' The subject\'s data is erased; the erasure certificate is signed.';
      say(msg);
    });
  });
}

/* The step waiting for the form below the table (act_on). */
var pending = null;

/* Reject and extend take a reason code, and completing a rectify request the corrected
 * profile (P-DSR-3): the form below the table, its fields for the step. */
var FORM_TITLE = { reject: 'Reject', extend: 'Extend', complete: 'Complete' };

function act_on(q, act, from) {
  var rectify = act === 'complete' && q.type === 'rectify';
  if (act === 'reject' || act === 'extend' || rectify) {
    pending = { q: q, act: act, from: from };
    $('reason-title').textContent = FORM_TITLE[act] + ' request ' + q.id;
    $('extend-fields').hidden = act !== 'extend';
    $('reason-fields').hidden = rectify;
    $('rectify-fields').hidden = !rectify;
    $('reason-form').reset();
    $('reason-form').hidden = false;
    (act === 'extend' ? $('extend-by') : rectify ? $('fix-email') : $('reason')).focus();
    return;
  }
  post_action(q, act, act === 'complete' ? {} : undefined)
    .catch(function (e) { say(e.message, true); });
}

/* Focus after the form closes: the queue's first button, else the page's nav button. */
function focusAfter() {
  var b = document.querySelector('#queue tbody button') ||
          document.querySelector('#nav button[aria-current]');
  if (b) b.focus();
}

function reasonDone() {
  $('reason-form').reset(); /* no corrected value stays in the page */
  $('reason-form').hidden = true;
  pending = null;
}

/* The corrected profile from the form: {profile: {...}} with the fields filled, or {} (the
 * records alone were corrected). */
var FIX_FIELDS = { email: 'fix-email', phone: 'fix-phone', birth_date: 'fix-birth',
                   external_id: 'fix-external' };

function rectifyBody() {
  var profile = {}, any = false;
  Object.keys(FIX_FIELDS).forEach(function (k) {
    var v = $(FIX_FIELDS[k]).value.trim();
    if (v) { profile[k] = v; any = true; }
  });
  return any ? { profile: profile } : {};
}

function reasonSubmit(ev) {
  ev.preventDefault();
  if (pending === null) return;
  var p = pending, body = { reason: $('reason').value.trim() };
  if (p.act === 'complete') body = rectifyBody();
  else if (!/^[a-z0-9_]{1,32}$/.test(body.reason)) {
    say('The reason is a code: 1 to 32 of a-z, 0-9 and _.', true);
    $('reason').focus();
    return;
  }
  if (p.act === 'extend') body.by = $('extend-by').value.trim();
  post_action(p.q, p.act, body).then(function () {
    reasonDone();
    focusAfter();
  }).catch(function (e) { say(e.message, true); });
}

consoleView('queue-view', loadQueue);

/* --- signing in and out -------------------------------------------------------------------- */

function loadTenant() {
  return api('GET', tpath()).then(function (t) {
    $('tenant-name').textContent = t.name;
    $('login-view').hidden = true;
    $('logout').hidden = false;
    return showView(showNav());
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
  api('POST', tpath('login'), body).then(function (who) {
    role = who.role || '';
    sessionStorage.setItem('custos.tenant', tenant);
    sessionStorage.setItem('custos.role', role);
    sessionStorage.setItem('custos.user', who.user_id || '');
    $('password').value = '';
    $('totp').value = '';
    return loadTenant();
  }).catch(function (e) {
    say(e.message, true);
    $('password').focus();
  });
}

/* Single sign-on (docs/sso.md): the browser goes to the tenant's provider through
 * /v1/tenants/{t}/sso/login; the callback sets the session cookie and sends the browser back
 * here with #sso=<tenant>.<role> (a hint for the navigation only: the API checks every call). */
function signInSso() {
  var t = $('tenant').value.trim();
  if (!/^[0-9]+$/.test(t)) {
    say('The organisation id is a number.', true);
    $('tenant').focus();
    return;
  }
  location.assign('/v1/tenants/' + t + '/sso/login');
}

/* Back from the provider: the fragment read once and taken out of the address bar. */
function ssoReturn() {
  var m = /^#sso=([0-9]+)\.([a-z]+)$/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, '', location.pathname);
  tenant = m[1];
  role = m[2];
  sessionStorage.setItem('custos.tenant', tenant);
  sessionStorage.setItem('custos.role', role);
}

/* The operator (docs/portal.md): its API key, sent once in the Authorization header, buys a
 * 30-minute HttpOnly session cookie. The field is emptied before the call and the key is kept
 * nowhere: not in a variable past this function, not in storage. */
function loadOperator() {
  $('tenant-name').textContent = 'Platform operator';
  $('login-view').hidden = true;
  $('logout').hidden = false;
  return showView(showNav());
}

function signInOperator(ev) {
  ev.preventDefault();
  var key = $('op-key').value.trim();
  $('op-key').value = '';
  if (!/^cuk_[0-9]+_[0-9a-f]{64}$/.test(key)) {
    say('An API key reads cuk_, its id, _ and 64 hex digits.', true);
    $('op-key').focus();
    return;
  }
  say('Signing in…');
  api('POST', '/v1/operator/session', undefined, { Authorization: 'Bearer ' + key })
    .then(function (who) {
      role = who.role || '';
      tenant = '';
      sessionStorage.setItem('custos.role', role);
      sessionStorage.setItem('custos.operator', '1');
      return loadOperator();
    }).catch(function (e) {
      say(e.message, true);
      $('op-key').focus();
    });
  key = '';
}

/* Signed out only once the server ended the session (or it had ended already: 401): a failed
 * call says so and keeps the page as it is, since the cookie may still be good on a shared
 * machine. Then nothing of the session stays in the page: every view's rows go too. */
function signOut() {
  api('POST', '/v1/logout').then(signedOut, function (e) {
    if (e.status === 401) return signedOut();
    say('Could not sign out (' + e.message + '): try again.', true);
  });
}

function signedOut() {
  sessionStorage.removeItem('custos.tenant');
  sessionStorage.removeItem('custos.role');
  sessionStorage.removeItem('custos.user');
  sessionStorage.removeItem('custos.operator');
  role = '';
  tenant = '';
  $('tenant-name').textContent = '';
  document.querySelectorAll('section.view').forEach(function (s) { s.hidden = true; });
  document.querySelectorAll('section.view tbody').forEach(function (b) {
    if (b.parentNode.id !== 'roles') b.textContent = ''; /* the roles' table is the page's own */
  });
  reasonDone();
  queueCursors = [''];
  $('queue-filter').value = 'all';
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('login-view').hidden = false;
  $('login').reset();
  $('op-login').reset();
  say('Signed out.');
  document.dispatchEvent(new Event('console:signed-out'));
}

document.addEventListener('DOMContentLoaded', function () {
  /* Nothing an earlier visit typed survives a reload (browsers restore form fields). */
  $('login').reset();
  $('op-login').reset();
  $('queue-filter').value = 'all';
  $('login').addEventListener('submit', signIn);
  $('sso-signin').addEventListener('click', signInSso);
  ssoReturn();
  $('op-login').addEventListener('submit', signInOperator);
  $('logout').addEventListener('click', signOut);
  $('reason-form').addEventListener('submit', reasonSubmit);
  $('queue-next').addEventListener('click', function () { queueTurn(true); });
  $('queue-prev').addEventListener('click', function () { queueTurn(false); });
  /* The server filters (docs/dsr.md: all, open, due_soon, overdue); the pages start again. */
  $('queue-filter').addEventListener('change', function () {
    queueCursors = [''];
    reasonDone();
    loadQueue().catch(function (e) { say(e.message, true); });
  });
  $('reason-cancel').addEventListener('click', function () {
    var from = pending ? pending.from : null;
    reasonDone();
    if (from && from.isConnected) from.focus();
    else focusAfter();
  });
  document.querySelectorAll('#nav button').forEach(function (b) {
    b.addEventListener('click', function () { showView(b.dataset.view); });
  });
  /* Only with a tenant from this tab's sign-in: a fresh visitor makes no call (and so no
   * 401 in the console). */
  if (tenant) loadTenant().catch(function () { sessionStorage.removeItem('custos.tenant'); });
  else if (sessionStorage.getItem('custos.operator')) {
    /* The operator's session may have ended (30 minutes): back to sign-in then. */
    api('GET', '/v1/tenants').then(loadOperator).catch(function () {
      sessionStorage.removeItem('custos.operator');
      sessionStorage.removeItem('custos.role');
      role = '';
    });
  }
});
