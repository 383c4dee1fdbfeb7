/* console_tenants.js: the operator's tenants page (docs/portal.md), through the API's own
 * routes: list (GET /v1/tenants), create (POST /v1/tenants, answering the tenant's owner key
 * once, P-ACC-3), terminate (POST .../terminate, P-RET-2) and the sweep that purges tenants
 * past their export window (POST /v1/sweep). Terminate and the sweep ask again before they
 * act (twoStep, console_access.js). Needs console.js and console_access.js. */
'use strict';

function showTenants(list) {
  var body = $('tenants').tBodies[0];
  body.textContent = '';
  list.forEach(function (t) {
    var tr = newRow('tenants');
    tr.dataset.id = t.id;
    cell(tr, t.id);
    cell(tr, t.name);
    cell(tr, t.state, 'state');
    cell(tr, (t.created_at || '').slice(0, 10));
    cell(tr, (t.terminated_at || '').slice(0, 10));
    var td = cell(tr, '', 'actions');
    if (t.state === 'active')
      td.appendChild(twoStep('Terminate', 'terminate', 'Terminate tenant ' + t.name, function () {
        terminateTenant(t);
      }));
    body.appendChild(tr);
  });
  $('tenants-empty').hidden = list.length !== 0;
}

function loadTenants() {
  sweepButton();
  return api('GET', '/v1/tenants').then(function (d) { showTenants(d.tenants || []); });
}

function terminateTenant(t) {
  api('POST', '/v1/tenants/' + encodeURIComponent(t.id) + '/terminate').then(function (r) {
    return loadTenants().then(function () {
      say('Tenant ' + t.name + ' terminated: read-only, its export open until ' +
          (r.export_until || '').slice(0, 10) + '.');
    });
  }).catch(function (e) { say(e.message, true); });
}

function hideOwnerKey() {
  $('tenant-secret').hidden = true;
  $('tenant-secret-value').textContent = '';
}

function createTenant(ev) {
  ev.preventDefault();
  var body = { name: $('tenant-new-name').value.trim() };
  if (!body.name) {
    say('A tenant needs a name.', true);
    $('tenant-new-name').focus();
    return;
  }
  if ($('tenant-new-policy').value) body.policy = $('tenant-new-policy').value;
  hideOwnerKey();
  api('POST', '/v1/tenants', body).then(function (t) {
    $('tenant-form').reset();
    /* P-ACC-3: the owner key's secret, answered this once; the page keeps it nowhere else. */
    $('tenant-secret-value').textContent = t.owner_api_key ? t.owner_api_key.secret : '';
    $('tenant-secret').hidden = false;
    return api('GET', '/v1/tenants').then(function (d) {
      showTenants(d.tenants || []);
      say('Tenant ' + t.name + ' created (id ' + t.id + ').');
    });
  }).catch(function (e) { say(e.message, true); });
}

var SWEEP_TEXT = { tenants_purged: 'tenants purged', records_deleted: 'records deleted',
                   records_anonymized: 'records anonymized', subjects_erased: 'subjects erased',
                   tenants_shredded: 'tenants shredded' };

function sweepButton() {
  var slot = $('sweep-slot');
  slot.textContent = '';
  slot.appendChild(twoStep('Run the sweep now', 'sweep', 'Run the sweep now', function () {
    api('POST', '/v1/sweep').then(function (r) {
      var parts = Object.keys(SWEEP_TEXT).map(function (k) {
        return (r[k] || 0) + ' ' + SWEEP_TEXT[k];
      });
      $('sweep-result').textContent = 'Sweep done: ' + parts.join(', ') + '.';
      return api('GET', '/v1/tenants').then(function (d) { showTenants(d.tenants || []); });
    }).catch(function (e) { say(e.message, true); }).then(sweepButton);
  }));
}

consoleView('tenants-view', loadTenants);

document.addEventListener('DOMContentLoaded', function () {
  $('tenant-form').addEventListener('submit', createTenant);
  $('tenant-form').reset();
  document.querySelectorAll('#nav button').forEach(function (b) {
    b.addEventListener('click', hideOwnerKey);
  });
  document.addEventListener('console:signed-out', function () {
    hideOwnerKey();
    $('sweep-result').textContent = '';
  });
});
