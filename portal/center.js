/* center.js: the data subject's privacy center (docs/portal.md). The link's token arrives in
 * the URL's fragment, which the browser never sends to a server; it is taken out of the address
 * bar at once and exchanged for the subject's session cookie, which is HttpOnly: this script
 * never sees it. Every value from the server goes into the page through textContent, never as
 * HTML. */
'use strict';

var ids = JSON.parse(sessionStorage.getItem('custos.center') || 'null');

/* A link's token has one shape: base64url of 66 bytes, 88 characters. Any other fragment (the
 * skip link's "#main" above all) is the page's own and is never sent to the exchange. */
var TOKEN = /^[A-Za-z0-9_-]{88}$/;

function linkToken() {
  var h = location.hash.slice(1);
  return TOKEN.test(h) ? h : '';
}

function $(id) { return document.getElementById(id); }

function say(text, isError) {
  var s = $('status');
  s.textContent = text;
  s.className = isError ? 'error' : '';
}

/* One API call, JSON in and out, the cookie sent (same origin only). */
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

function base() {
  return '/v1/tenants/' + ids.tenant_id + '/portal/subjects/' + ids.subject_id;
}

function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

/* One page for every link that cannot be used, forged or expired alike. */
function closed() {
  sessionStorage.removeItem('custos.center');
  ids = null;
  $('center-view').hidden = true;
  $('retry-view').hidden = true;
  $('signout').hidden = true;
  $('tenant-name').textContent = '';
  $('closed-title').textContent = 'This link cannot be used';
  $('closed-text').textContent = 'The link is not valid, or it has expired. Ask the service ' +
    'that sent you here for a new link to your privacy center.';
  $('closed-view').hidden = false;
  say('');
}

/* After Sign out: said as it is, not as a bad link. */
function signedOut() {
  closed();
  $('closed-title').textContent = 'You signed out';
  $('closed-text').textContent = 'To come back, ask the service that sent you here for a new ' +
    'link to your privacy center.';
}

/* The exchange failed for a reason other than the link (the network, the server busy): the
 * token, already out of the address bar, is kept here for a retry (review-portal2 9). */
var pendingToken = '';

function retryLater(token) {
  pendingToken = token;
  $('center-view').hidden = true;
  $('closed-view').hidden = true;
  $('retry-view').hidden = false;
  say('');
  document.body.setAttribute('data-ready', '1');
}

function showPolicy(c) {
  var p = c.policy, pend = c.pending;
  $('tenant-name').textContent = c.tenant.name;
  $('policy-none').hidden = !!p;
  $('policy-line').textContent = p
    ? p.name + ', version ' + p.policy_version + ', in force since ' +
      (p.effective_date || '').slice(0, 10) + '.'
    : '';
  $('pending').hidden = !pend;
  $('pending-changes').textContent = '';
  if (!pend) return;
  $('pending-line').textContent = 'It takes effect on ' + (pend.effective_at || '').slice(0, 10) +
    '. What changes:';
  (pend.diff.changes || []).forEach(function (ch) {
    $('pending-changes').appendChild(el('li', ch.area + ': ' + ch.change));
  });
}

var BASIS = {
  consent: 'Only with your consent',
  legitimate_interest: 'Our legitimate interest (you may object)',
  contract: 'Needed to provide the service',
  legal_obligation: 'Required by law'
};

var STANCE = {
  none: 'No choice recorded', granted: 'You consented', withdrawn: 'You withdrew consent',
  objected: 'You objected', allowed: 'You withdrew your objection',
  renew: 'The policy changed how this purpose uses your data: your consent must be given again'
};

/* The action a purpose's button takes, and its label; null: nothing to change. */
function actionOf(p) {
  if (!p.can_change) return null;
  if (p.basis === 'consent')
    return p.stance === 'granted' ? ['withdraw', 'Withdraw consent'] : ['grant', 'Give consent'];
  return p.stance === 'objected' ? ['withdraw_objection', 'Withdraw objection'] : ['object', 'Object'];
}

function change(purpose, action) {
  api('POST', base() + '/consents', { purpose: purpose, action: action })
    .then(function (d) {
      if (d.routed) {
        /* A processor's subject: the organisation it works for decides first (P-DSR-8). */
        say('Your request was sent. The organisation this service works for decides on it ' +
            'first; it shows under Your requests.');
        return loadRequests();
      }
      say('Your choice was recorded.');
      return loadConsents();
    })
    .catch(failed);
}

function showConsents(list) {
  var ul = $('consents');
  ul.textContent = '';
  list.forEach(function (p) {
    var li = el('li'), act = actionOf(p);
    li.id = 'purpose-' + p.purpose;
    li.appendChild(el('h3', p.purpose.replace(/_/g, ' ')));
    if (p.description) li.appendChild(el('p', p.description));
    li.appendChild(el('p', BASIS[p.basis] || p.basis, 'basis'));
    if (p.can_change) li.appendChild(el('p', STANCE[p.stance] || p.stance, 'stance'));
    li.appendChild(el('p', p.withdrawing, 'hint'));
    if (act) {
      var b = el('button', act[1]);
      b.type = 'button';
      b.className = 'change';
      b.setAttribute('data-action', act[0]);
      b.addEventListener('click', function () { change(p.purpose, act[0]); });
      li.appendChild(b);
    }
    ul.appendChild(li);
  });
}

function cell(tr, text) {
  var td = el('td', text);
  td.setAttribute('data-label', $('requests').tHead.rows[0].cells[tr.cells.length].textContent);
  tr.appendChild(td);
  return td;
}

/* The answer to an access or export request, saved as a file from memory: JSON, or CSV files
 * in one zip archive. */
function download(q, format) {
  fetch(base() + '/requests/' + q.id + '/export?format=' + format, { credentials: 'same-origin' })
    .then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.blob();
    })
    .then(function (blob) {
      var a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'my-data-' + q.id + (format === 'csv' ? '.zip' : '.json');
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
      say('Your data was downloaded.');
    })
    .catch(failed);
}

function showRequests(list) {
  var body = $('requests').tBodies[0];
  body.textContent = '';
  $('requests-empty').hidden = list.length > 0;
  list.forEach(function (q) {
    var tr = el('tr'), td;
    cell(tr, q.id);
    cell(tr, q.type);
    cell(tr, q.state);
    cell(tr, (q.answer_due || '').slice(0, 10));
    td = cell(tr, '');
    var ready = (q.type === 'export' || q.type === 'access') &&
      (q.state === 'acknowledged' || q.state === 'extended');
    if (ready) {
      [['json', 'Download', 'download'], ['csv', 'CSV (zip)', 'download-csv']].forEach(function (f) {
        var b = el('button', f[1], f[2]);
        b.type = 'button';
        b.setAttribute('aria-label', f[1] + ' request ' + q.id);
        b.addEventListener('click', function () { download(q, f[0]); });
        td.appendChild(b);
      });
    } else if (q.type === 'export' || q.type === 'access') {
      td.textContent = q.open ? 'Not ready yet' : '';
    }
    body.appendChild(tr);
  });
}

function loadConsents() {
  return api('GET', base() + '/consents').then(function (d) { showConsents(d.purposes); });
}

function loadRequests() {
  return api('GET', base() + '/requests').then(function (d) { showRequests(d.requests); });
}

function failed(err) {
  if (err.status === 401 || err.status === 404) return closed();
  say(err.message, true);
}

function load() {
  return api('GET', base()).then(function (c) {
    showPolicy(c);
    $('closed-view').hidden = true;
    $('retry-view').hidden = true;
    $('center-view').hidden = false;
    $('signout').hidden = false;
    $('session-end').textContent = ids.expires_at
      ? 'This session ends at ' + new Date(ids.expires_at).toLocaleTimeString([], {
        hour: '2-digit', minute: '2-digit' }) + '; open a new link from the service after that.'
      : '';
    return Promise.all([loadConsents(), loadRequests()]);
  }).catch(failed).then(function () {
    document.body.setAttribute('data-ready', '1');
  });
}

function fileRequest(e) {
  e.preventDefault();
  api('POST', base() + '/requests', { type: $('request-type').value })
    .then(function () { say('Your request was sent.'); return loadRequests(); })
    .catch(failed);
}

/* The cookie lives under the subject's own path and never comes to this route: the ids say
 * which path's cookie to clear. */
function signOut() {
  var q = ids ? '?tenant_id=' + encodeURIComponent(ids.tenant_id) + '&subject_id=' +
    encodeURIComponent(ids.subject_id) : '';
  api('DELETE', '/v1/portal/session' + q).then(signedOut, signedOut);
}

/* Exchanges a link's token for the session: a bad link (404) closes the page, any other
 * failure offers to try again with the same token. */
function exchange(token) {
  document.body.removeAttribute('data-ready');
  api('POST', '/v1/portal/session', { token: token }).then(function (d) {
    pendingToken = '';
    ids = { tenant_id: d.tenant_id, subject_id: d.subject_id, expires_at: d.expires_at };
    sessionStorage.setItem('custos.center', JSON.stringify(ids));
    return load();
  }).catch(function (e) {
    if (e.status !== 404) return retryLater(token);
    closed();
    document.body.setAttribute('data-ready', '1');
  });
}

/* The link's token, out of the address bar (and so out of history and any bookmark) first. */
function enter() {
  var token = linkToken();
  document.body.removeAttribute('data-ready');
  if (token) {
    history.replaceState(null, '', location.pathname);
    exchange(token);
    return;
  }
  if (!ids) {
    closed();
    document.body.setAttribute('data-ready', '1');
    return;
  }
  load();
}

$('request-form').addEventListener('submit', fileRequest);
$('signout').addEventListener('click', signOut);
$('retry').addEventListener('click', function () { if (pendingToken) exchange(pendingToken); });
/* A second link opened in the same tab changes only the fragment: no new page load. */
window.addEventListener('hashchange', function () {
  if (linkToken()) enter();
});
enter();
