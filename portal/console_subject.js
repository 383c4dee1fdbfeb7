/* console_subject.js: the admin console's subject page (docs/portal.md, issue 15 item 3). An
 * officer looks a subject up, stating the purpose of the look-up, and sees its records, consents,
 * legal holds, requests and who accessed it. Every call is the JSON API's own, with the
 * officer's session cookie and, where the API asks for one, the Custos-Purpose header: each is
 * checked against the policy and audited exactly as the API audits it. No personal value is
 * fetched before the officer reveals it: a record's values, like the profile's, are read (and
 * audited, record.read or subject.read) only by its Reveal button. Every value goes into the
 * page through textContent, never as HTML. It is one of the console's pages (consoleView,
 * console.js), emptied when the officer signs out. */
'use strict';

(function () {
  var subject = null;   /* the subject shown: its id */
  var records = [];     /* its records' ids */
  var holds = [];       /* the ids of the holds on it or its records */

  function $(id) { return document.getElementById(id); }
  function tenant() { return sessionStorage.getItem('custos.tenant') || ''; }
  function role() { return sessionStorage.getItem('custos.role') || ''; }
  /* Hints for the page only (src/core/roles.c): the API checks every call itself. */
  function mayHold() { return role() === 'owner' || role() === 'admin'; }
  function mayAudit() { return role() === 'owner' || role() === 'auditor'; }

  function say(text, isError) {
    var s = $('status');
    s.textContent = text;
    s.className = isError ? 'error' : '';
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function purpose() { return $('subject-purpose').value; }

  /* One API call with the stated purpose where given: JSON in and out, the cookie sent. */
  function api(method, path, body, withPurpose) {
    var init = { method: method, credentials: 'same-origin', headers: {} };
    if (withPurpose) init.headers['Custos-Purpose'] = purpose();
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch('/v1/tenants/' + encodeURIComponent(tenant()) + path, init).then(function (res) {
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

  function sid() { return '/subjects/' + encodeURIComponent(subject); }

  function row(table, cells) {
    var tr = el('tr'), head = $(table).tHead.rows[0].cells;
    cells.forEach(function (c, i) {
      var td = el('td');
      td.setAttribute('data-label', head[i].textContent);
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined ? '' : c;
      tr.appendChild(td);
    });
    $(table).tBodies[0].appendChild(tr);
    return tr;
  }

  function clearTable(id) { $(id).tBodies[0].textContent = ''; }

  function button(text, cls, label, fn) {
    var b = el('button', text, cls);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', fn);
    return b;
  }

  /* A JSON value as text: a masked value is never built from the value itself. */
  function show(v) {
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  /* --- records and profile: hidden until revealed -------------------------------------- */

  function showRecords() {
    var ul = $('subject-records');
    ul.textContent = '';
    $('subject-records-none').hidden = records.length > 0;
    records.forEach(function (id) {
      var li = el('li');
      li.id = 'record-' + id;
      li.appendChild(el('span', 'Record ' + id, 'rec-id'));
      li.appendChild(el('span', 'Values hidden', 'masked'));
      li.appendChild(button('Reveal', 'reveal', 'Reveal record ' + id, function () {
        reveal(id, li);
      }));
      ul.appendChild(li);
    });
  }

  /* Reads the record with the stated purpose (the API's record.read, audited with it) and shows
   * its fields. */
  function reveal(id, li) {
    api('GET', '/records/' + encodeURIComponent(id), undefined, true).then(function (r) {
      var dl = el('dl', undefined, 'fields');
      li.textContent = '';
      li.appendChild(el('span', 'Record ' + id + ' (' + r.collection + ')', 'rec-id'));
      Object.keys(r.data || {}).forEach(function (k) {
        dl.appendChild(el('dt', k));
        dl.appendChild(el('dd', show(r.data[k])));
      });
      li.appendChild(dl);
      say('Record ' + id + ' revealed for ' + purpose() + '; the read is in the audit log.');
      return loadAudit();
    }).catch(fail);
  }

  function revealProfile() {
    api('GET', sid(), undefined, true).then(function (p) {
      var dl = $('subject-profile');
      dl.textContent = '';
      ['external_id', 'email', 'phone', 'birth_date'].forEach(function (k) {
        if (p[k] === undefined || p[k] === null) return;
        dl.appendChild(el('dt', k.replace('_', ' ')));
        dl.appendChild(el('dd', show(p[k])));
      });
      $('subject-reveal-profile').hidden = true;
      say('Profile revealed for ' + purpose() + '; the read is in the audit log.');
      return loadAudit();
    }).catch(fail);
  }

  /* --- consents, holds, requests, accesses ---------------------------------------------- */

  function loadConsents() {
    return api('GET', sid() + '/consents', undefined, true).then(function (d) {
      clearTable('subject-consents');
      (d.ledger || []).forEach(function (c) {
        row('subject-consents', [c.purpose, c.action, (c.at || '').slice(0, 19), c.source]);
      });
      $('subject-consents-none').hidden = (d.ledger || []).length > 0;
    });
  }

  function holdsOf(list) {
    return list.filter(function (h) {
      return h.subject_id === subject || records.indexOf(h.record_id) >= 0 || h.scope === 'tenant';
    });
  }

  function loadHolds() {
    return api('GET', '/holds', undefined, true).then(function (d) {
      var mine = holdsOf(d.holds || []);
      holds = mine.filter(function (h) { return h.scope !== 'tenant'; })
        .map(function (h) { return h.id; });
      clearTable('subject-holds');
      mine.forEach(function (h) {
        var act = '';
        if (mayHold() && !h.released_at && h.scope !== 'tenant')
          act = button('Lift', 'lift', 'Lift hold ' + h.id, function () { lift(h.id); });
        row('subject-holds', [h.scope + (h.record_id ? ' ' + h.record_id : ''), h.reason,
          (h.created_at || '').slice(0, 10), h.released_at ? 'lifted ' + h.released_at.slice(0, 10)
            : 'in force', act]);
      });
      $('subject-holds-none').hidden = mine.length > 0;
      $('hold-form').hidden = !mayHold();
    });
  }

  function reason() {
    var r = $('hold-reason').value.trim();
    if (!r) {
      say('A hold is placed and lifted with a reason.', true);
      $('hold-reason').focus();
    }
    return r;
  }

  function place(ev) {
    ev.preventDefault();
    var r = reason();
    if (!r) return;
    api('POST', '/holds', { subject_id: subject, reason: r }).then(function () {
      $('hold-reason').value = '';
      say('Legal hold placed: the subject is not erased while it holds.');
      return loadHolds();
    }).then(loadAudit).catch(fail);
  }

  function lift(id) {
    var r = reason();
    if (!r) return;
    api('POST', '/holds/' + encodeURIComponent(id) + '/release', { reason: r }).then(function () {
      $('hold-reason').value = '';
      say('Legal hold ' + id + ' lifted.');
      return loadHolds();
    }).then(loadAudit).catch(fail);
  }

  function loadRequests() {
    return api('GET', '/requests').then(function (d) {
      var mine = (d.requests || []).filter(function (q) { return q.subject_id === subject; });
      clearTable('subject-requests');
      mine.forEach(function (q) {
        row('subject-requests', [q.id, q.type, q.state, (q.filed_at || '').slice(0, 10)]);
      });
      $('subject-requests-none').hidden = mine.length > 0;
    });
  }

  /* Who accessed the subject (the auditor's and owner's permission, audit): the log's entries
   * that touch it, from its subject index (GET .../subjects/{id}/accesses): its reads, each
   * record read or written, consents, cookie choices, disclosures (not holds). Oldest first
   * in the API, so the pages are followed (ACCESS_PAGES of 1,000 at most) and the latest
   * ACCESS_SHOWN of them shown, newest first; past the pages the page says so. */
  var ACCESS_PAGES = 10, ACCESS_SHOWN = 200;
  var accessAsked = 0; /* the latest load's number: an answer for an earlier one is dropped */

  function loadAudit() {
    var path = sid() + '/accesses?limit=1000', got = [], mine = ++accessAsked;
    $('subject-audit-more').hidden = true;
    function page(after, left) {
      return api('GET', path + (after ? '&after=' + encodeURIComponent(after) : ''))
        .then(function (d) {
          if (mine !== accessAsked) return null; /* another subject, or signed out, since */
          got = got.concat(d.accesses || []);
          if (got.length > ACCESS_SHOWN) got = got.slice(-ACCESS_SHOWN);
          return d.next && left > 1 ? page(d.next, left - 1) : d.next;
        });
    }
    if (!mayAudit()) {
      clearTable('subject-audit');
      $('subject-audit-none').textContent = 'Your role does not read the audit log.';
      $('subject-audit-none').hidden = false;
      return Promise.resolve();
    }
    return page('', ACCESS_PAGES).then(function (more) {
      if (mine !== accessAsked) return;
      clearTable('subject-audit');
      got.reverse().forEach(function (e) {
        row('subject-audit', [(e.at || '').slice(0, 19), e.actor, e.action, e.object, e.purpose]);
      });
      $('subject-audit-none').textContent = 'No access recorded.';
      $('subject-audit-none').hidden = got.length > 0;
      $('subject-audit-more').hidden = !more;
    }).catch(function (e) {
      if (mine !== accessAsked) return;
      if (e.status !== 403) throw e;
      clearTable('subject-audit');
      $('subject-audit-none').textContent = 'Your role does not read the audit log.';
      $('subject-audit-none').hidden = false;
    });
  }

  function fail(e) {
    say(e.message, true);
  }

  /* --- look-up ------------------------------------------------------------------------- */

  function find(ev) {
    ev.preventDefault();
    loadPurposes().then(function () { lookUp(); }, function () {});
  }

  function lookUp() {
    var q = $('subject-q').value.trim(), by = $('subject-by').value, found;
    if (!q) {
      say('Name the subject to look up.', true);
      $('subject-q').focus();
      return;
    }
    if (by === 'id') {
      if (!/^[0-9]+$/.test(q)) {
        say('A subject id is a number.', true);
        $('subject-q').focus();
        return;
      }
      found = Promise.resolve(q);
    } else {
      var body = {};
      body[by] = q;
      found = api('POST', '/subjects/search', body, true).then(function (d) {
        if (!d.ids || d.ids.length === 0) {
          var err = new Error('No subject matches.');
          err.status = 404;
          throw err;
        }
        return d.ids[0];
      });
    }
    found.then(function (id) {
      subject = id;
      return api('GET', sid() + '/records', undefined, true);
    }).then(function (d) {
      records = d.ids || [];
      $('subject-heading').textContent = 'Subject ' + subject;
      $('subject-profile').textContent = '';
      $('subject-reveal-profile').hidden = false;
      showRecords();
      $('subject-found').hidden = false;
      return Promise.all([loadConsents(), loadHolds(), loadRequests()]).then(loadAudit);
    }).then(function () {
      say('Subject ' + subject + ' looked up for ' + purpose() + '.');
    }).catch(function (e) {
      if (e.status === 404) {
        $('subject-found').hidden = true;
        subject = null;
      }
      fail(e);
    });
  }

  /* The purposes the officer may state: the policy in force's, read once the form is first
   * used (a tenant without a policy, whose console never opens this form, makes no call). */
  var purposes = null;
  function loadPurposes() {
    if (purposes) return purposes;
    purposes = api('GET', '/policy').then(function (p) {
      var sel = $('subject-purpose');
      sel.textContent = '';
      (p.purposes || []).forEach(function (pu) {
        var o = el('option', pu.name.replace(/_/g, ' '));
        o.value = pu.name;
        sel.appendChild(o);
      });
    }).catch(function (e) {
      purposes = null;
      say(e.status === 404 ? 'This organisation has no policy in force: no purpose to state.'
        : e.message, true);
      throw e;
    });
    return purposes;
  }

  /* Emptied when signed out: nothing of one officer's look-up stays in the page. */
  function reset() {
    accessAsked++; /* an answer still on its way lands nowhere */
    purposes = null;
    $('subject-purpose').textContent = '';
    subject = null;
    records = [];
    holds = [];
    $('subject-found').hidden = true;
    $('subject-find').reset();
  }

  /* A page of the console (console.js): its nav button shows it; focus then moves into it, so
   * the keyboard's next Tab is the look-up form. */
  consoleView('subject-view', function () {
    /* console.js shows the section once this returns (its promise's next step): after that. */
    setTimeout(function () {
      if (!$('subject-view').hidden) $('subject-view').focus();
    }, 0);
  });

  document.addEventListener('DOMContentLoaded', function () {
    $('subject-find').addEventListener('submit', find);
    $('subject-find').addEventListener('focusin', function () {
      loadPurposes().catch(function () {});
    });
    $('hold-form').addEventListener('submit', place);
    $('subject-reveal-profile').addEventListener('click', revealProfile);
    document.addEventListener('console:signed-out', reset);
  });
})();
