/* console_policy.js: the console's policy page (docs/portal.md): the version in force and a
 * pending one with its effective time and what changes (P-NOT-1), through GET .../policy and
 * GET .../policy/pending; the owner (`policy`) may withdraw the pending version before it takes
 * effect (DELETE .../policy/pending). Every role of the tenant reads it (`self`). Needs
 * console.js. */
'use strict';

/* A definition list of [term, value] pairs, each value as text. */
function defs(dl, pairs) {
  dl.textContent = '';
  pairs.forEach(function (p) {
    var dt = document.createElement('dt'), dd = document.createElement('dd');
    dt.textContent = p[0];
    dd.textContent = p[1] === undefined || p[1] === null ? '' : String(p[1]);
    dl.appendChild(dt);
    dl.appendChild(dd);
  });
}

function day(t) {
  return (t || '').replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
}

function showPolicy(p) {
  $('policy-none').hidden = true;
  $('policy-current').hidden = false;
  defs($('policy-facts'), [
    ['Name', p.name],
    ['Policy', p.id + ', version ' + p.policy_version],
    ['Stored version', p.version],
    ['Effective date', (p.effective_date || '').slice(0, 10)],
    ['Role', p.role],
    ['Minimum age', p.minimum_age],
    ['Notice of material changes', p.notice_period],
    ['Requests', 'acknowledge within ' + p.dsr.acknowledge_business_days +
                 ' business days, answer within ' + p.dsr.answer + ', extension up to ' +
                 p.dsr.extension]
  ]);
  var body = $('policy-purposes').tBodies[0];
  body.textContent = '';
  (p.purposes || []).forEach(function (u) {
    var tr = newRow('policy-purposes');
    cell(tr, u.name);
    cell(tr, u.basis);
    cell(tr, u.data_use);
    cell(tr, (u.categories || []).join(', '));
    body.appendChild(tr);
  });
}

function showPending(d) {
  $('policy-no-pending').hidden = true;
  $('policy-pending').hidden = false;
  $('policy-withdraw').hidden = !may('policy');
  defs($('policy-pending-facts'), [
    ['Stored version', d.version + ' (in force: ' + d.version_in_force + ')'],
    ['Bound', day(d.bound_at)],
    ['Takes effect', day(d.effective_at)],
    ['Material', d.diff.material ? 'yes: it waits for the notice period' : 'no'],
    ['Consent to give again', (d.fresh_consent || []).join(', ') || 'none']
  ]);
  var body = $('policy-diff').tBodies[0];
  body.textContent = '';
  (d.diff.changes || []).forEach(function (c) {
    var tr = newRow('policy-diff');
    cell(tr, c.area);
    cell(tr, c.change);
    cell(tr, c.material ? 'material' : 'narrowing', c.material ? 'flag' : '');
    body.appendChild(tr);
  });
}

function loadPolicy() {
  $('policy-pending').hidden = true;
  $('policy-no-pending').hidden = false;
  return api('GET', tpath('policy')).then(function (p) {
    showPolicy(p);
    /* Only asked when one is named: no 404 for the usual case. */
    if (p.pending) return api('GET', tpath('policy', 'pending')).then(showPending);
  }, function (e) {
    /* 404: the tenant has no policy (not a pending version gone meanwhile). */
    if (e.status !== 404) throw e;
    $('policy-current').hidden = true;
    $('policy-none').hidden = false;
  });
}

function withdrawPending() {
  api('DELETE', tpath('policy', 'pending')).then(function () {
    return loadPolicy();
  }).then(function () {
    say('The pending version is withdrawn; the version in force stays.');
    $('nav').querySelector('[aria-current]').focus();
  }).catch(function (e) { say(e.message, true); });
}

consoleView('policy-view', loadPolicy);

document.addEventListener('DOMContentLoaded', function () {
  $('policy-withdraw').addEventListener('click', withdrawPending);
});
