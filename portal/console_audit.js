/* console_audit.js: the console's audit log page (docs/portal.md): the tenant's log through
 * GET .../audit, filtered and paged by the server (after/limit, docs/api.md "The audit log"),
 * and the chain checked by GET .../audit/verify (P-AUD-2). Owner and auditor only (`audit`).
 * Reading the log is itself an entry (audit.read). Needs console.js. */
'use strict';

var AUDIT_PAGE = 50;
/* The cursors of the pages before this one ('' for the first), and this page's. */
var auditBack = [];
var auditAt = '';
var auditNext = null;

/* The filters as query parameters; a date alone in "to" means the whole of that day. */
function auditQuery() {
  var q = [], v;
  function add(name, value) {
    if (value) q.push(name + '=' + encodeURIComponent(value));
  }
  add('from', $('audit-from').value.trim());
  v = $('audit-to').value.trim();
  add('to', /^\d{4}-\d{2}-\d{2}$/.test(v) ? v + 'T23:59:59.999Z' : v);
  add('actor', $('audit-actor').value.trim());
  add('action', $('audit-action').value.trim());
  v = $('audit-subject').value.trim();
  add('object', v ? 'subject:' + v : '');
  add('purpose', $('audit-purpose').value.trim());
  add('after', auditAt);
  q.push('limit=' + AUDIT_PAGE);
  return q.join('&');
}

function showAudit(d) {
  var body = $('audit').tBodies[0], list = d.entries || [];
  body.textContent = '';
  list.forEach(function (e) {
    var tr = newRow('audit');
    if (e.outcome !== 'ok') tr.className = 'refused';
    cell(tr, e.seq);
    cell(tr, (e.at || '').replace('T', ' ').replace('Z', ''));
    cell(tr, e.actor);
    cell(tr, e.action);
    cell(tr, e.object);
    cell(tr, e.purpose);
    cell(tr, e.outcome);
    body.appendChild(tr);
  });
  auditNext = d.next;
  $('audit-empty').hidden = list.length !== 0;
  $('audit-prev').disabled = auditBack.length === 0;
  $('audit-next').disabled = !auditNext;
  $('audit-page').textContent = list.length
    ? 'Entries ' + list[0].seq + ' to ' + list[list.length - 1].seq + ', page ' +
      (auditBack.length + 1)
    : '';
}

function loadAudit() {
  return api('GET', tpath('audit') + '?' + auditQuery()).then(showAudit);
}

/* The chain's result in words: intact, or where it breaks and why. */
function verifyAudit() {
  var out = $('audit-verdict');
  out.textContent = 'Checking the chain…';
  out.className = '';
  api('GET', tpath('audit', 'verify')).then(function (r) {
    if (r.ok) {
      out.className = 'ok';
      out.textContent = 'Chain intact: ' + r.entries + ' entries, ' + r.checkpoints +
        ' signed checkpoints checked' +
        (r.pruned_through ? ', pruned through ' + r.pruned_through : '') + '.';
    } else {
      out.className = 'bad';
      out.textContent = 'Chain broken at entry ' + r.first_bad_seq + ': ' + r.problem + '.';
    }
  }).catch(function (e) {
    out.textContent = '';
    say(e.message, true);
  });
}

function auditFilter(ev) {
  ev.preventDefault();
  auditBack = [];
  auditAt = '';
  loadAudit().catch(function (e) {
    /* The rows shown no longer match the filters: none rather than the wrong ones. */
    showAudit({ entries: [], next: null });
    say(e.message, true);
  });
}

consoleView('audit-view', function () {
  auditBack = [];
  auditAt = '';
  $('audit-verdict').textContent = '';
  return loadAudit();
});

document.addEventListener('DOMContentLoaded', function () {
  $('audit-filter').addEventListener('submit', auditFilter);
  $('audit-clear').addEventListener('click', function () {
    $('audit-filter').reset();
    auditFilter(new Event('submit'));
  });
  $('audit-verify').addEventListener('click', verifyAudit);
  $('audit-next').addEventListener('click', function () {
    if (!auditNext) return;
    auditBack.push(auditAt);
    auditAt = auditNext;
    loadAudit().catch(function (e) { say(e.message, true); });
  });
  $('audit-prev').addEventListener('click', function () {
    if (auditBack.length === 0) return;
    auditAt = auditBack.pop();
    loadAudit().catch(function (e) { say(e.message, true); });
  });
  document.addEventListener('console:signed-out', function () {
    $('audit-filter').reset();
    $('audit').tBodies[0].textContent = '';
    $('audit-verdict').textContent = '';
  });
});
