// RoleCall ops page: tenants, connections by status, re-check and
// disconnect, invites, rotation, limits, sweeps and the live event feed. Vanilla JavaScript, no build step.
'use strict';
(function () {
  var STATUSES = []; // from GET /: the statuses, in the order listed
  var features = {}; // from GET /: events, sweeps
  var KEY = 'rolecall.opsToken';
  var lastEvent = '';
  var eventsTimer = null;
  var connsTimer = null;

  var $ = RoleCall.$, el = RoleCall.el, when = RoleCall.when;
  function token() { return sessionStorage.getItem(KEY) || ''; }

  function api(method, path, body) {
    return RoleCall.request(method, path, 'Bearer ' + token(), body).then(function (r) {
      if (r.status === 401) signOut('The token was not accepted.');
      return r;
    });
  }

  // say shows the outcome of the last action; a success replaces a stale
  // error, and an error is marked as one.
  function say(msg, isError) {
    var m = $('ops-message');
    m.textContent = msg;
    m.className = 'status' + (isError ? ' error' : '');
  }
  var listError = false; // the message shows a listing failure

  var PAGE = 25;
  var pages = {};   // status (or 'tenants') → page index
  var groups = [];  // the last listing, per status
  var tenants = []; // the last listing of the tenants
  function matches(c, q) {
    return !q || c.tenantId.toLowerCase().indexOf(q) >= 0 || c.accountId.indexOf(q) >= 0;
  }

  // --- sign in ----------------------------------------------------------------
  function signOut(msg) {
    sessionStorage.removeItem(KEY);
    clearTimeout(eventsTimer);
    clearTimeout(connsTimer);
    $('console').hidden = true;
    $('signin').hidden = false;
    var err = $('ops-token-error');
    if (msg) { err.textContent = msg; err.hidden = false; $('ops-token').setAttribute('aria-invalid', 'true'); }
    $('ops-token').focus();
  }
  function signIn() {
    $('signin').hidden = true;
    $('console').hidden = false;
    $('ops-token-error').hidden = true;
    $('ops-token').removeAttribute('aria-invalid');
    loadConnections();
    pollEvents();
  }
  $('signin-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var v = $('ops-token').value.trim();
    if (!v) { signOut('Enter the ops token.'); return; }
    sessionStorage.setItem(KEY, v);
    $('ops-token').value = '';
    ready.then(signIn);
  });
  $('signout').addEventListener('click', function () { signOut(''); });
  $('refresh').addEventListener('click', function () { loadConnections(); });

  // --- listings ---------------------------------------------------------------
  // listAll reads every page of a listing (query: the path and its
  // parameters; key: the array in each page), the first 5,000 items.
  function listAll(query, key) {
    var items = [];
    function page(cursor) {
      var q = query + (query.indexOf('?') < 0 ? '?' : '&') + 'limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return api('GET', q).then(function (r) {
        if (!r.ok) throw r.error;
        items = items.concat(r.data[key] || []);
        if (r.data.cursor && items.length < 5000) return page(r.data.cursor);
        return items;
      });
    }
    return page('');
  }

  // loadConnections lists the tenants and the connections of every status,
  // then draws both; it runs again every 15 seconds while signed in.
  function loadConnections() {
    clearTimeout(connsTimer);
    var byStatus = Promise.all(STATUSES.map(function (st) { return listAll('/v1/connections?status=' + st, 'connections'); }));
    return Promise.all([byStatus, listAll('/v1/tenants', 'tenants')]).then(function (all) {
      groups = all[0];
      tenants = all[1];
      if (listError) { say(''); listError = false; }
      render();
      renderTenants();
    }, function (err) {
      listError = true;
      say('Could not list tenants and connections: ' + (err && err.message ? err.message : 'error'), true);
    }).then(function () {
      if (token()) connsTimer = setTimeout(loadConnections, 15000);
    });
  }

  // table returns a scrolling table labelled by the element labelId, with
  // one column per header and the rows given.
  function table(labelId, headers, rows) {
    var wrap = el('div', 'table-scroll');
    wrap.tabIndex = 0;
    wrap.setAttribute('role', 'region');
    wrap.setAttribute('aria-labelledby', labelId);
    var t = el('table', 'stack');
    var thead = el('thead');
    var hr = el('tr');
    headers.forEach(function (h) {
      var th = el('th', null, h);
      th.scope = 'col';
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    t.appendChild(thead);
    var tb = el('tbody');
    rows.forEach(function (r) { tb.appendChild(r); });
    t.appendChild(tb);
    wrap.appendChild(t);
    return wrap;
  }

  // paged returns the page of items the listing key shows (pages[key],
  // kept within range) and, when there is more than one page, the Previous
  // and Next buttons to put after it; redraw draws the listing again.
  function paged(key, items, redraw) {
    var last = Math.max(0, Math.ceil(items.length / PAGE) - 1);
    var pg = Math.min(pages[key] || 0, last);
    pages[key] = pg;
    var shown = items.slice(pg * PAGE, (pg + 1) * PAGE);
    if (last === 0) return { items: shown, nav: null };
    var nav = el('div', 'pager');
    nav.setAttribute('role', 'navigation');
    nav.setAttribute('aria-label', key + ' pages');
    [['Previous', 'prev', -1, pg === 0], ['Next', 'next', 1, pg === last]].forEach(function (b, i) {
      var btn = el('button', 'btn secondary small', b[0]);
      btn.type = 'button';
      btn.disabled = b[3];
      btn.setAttribute('data-page', key + ':' + b[1]);
      btn.addEventListener('click', function () { pages[key] = pg + b[2]; redraw(); });
      nav.appendChild(btn);
      if (i === 0) {
        nav.appendChild(el('span', 'small', 'Page ' + (pg + 1) + ' of ' + (last + 1) +
          ' (' + (pg * PAGE + 1) + '–' + Math.min((pg + 1) * PAGE, items.length) + ' of ' + items.length + ')'));
      }
    });
    return { items: shown, nav: nav };
  }

  // --- tenants ----------------------------------------------------------------
  // renderTenants draws the tenants the search matches, PAGE rows at a
  // time: each with its live connections (of the listing above) against
  // its limit, its external ID's state, and buttons that fill the invite,
  // rotation and limit forms with it.
  function renderTenants() {
    var root = $('tenant-list');
    var q = ($('tenant-search').value || '').trim().toLowerCase();
    root.textContent = '';
    var live = {};
    groups.forEach(function (all, i) {
      if (STATUSES[i] === 'DISCONNECTED') return;
      all.forEach(function (c) { live[c.tenantId] = (live[c.tenantId] || 0) + 1; });
    });
    var items = tenants.filter(function (t) {
      return !q || t.tenantId.toLowerCase().indexOf(q) >= 0 || (t.name || '').toLowerCase().indexOf(q) >= 0;
    });
    $('tenants-empty').hidden = tenants.length !== 0;
    $('tenant-search-count').textContent = q ? items.length + ' of ' + tenants.length + ' tenants match “' + q + '”.' : '';
    if (!items.length) return;
    var pg = paged('tenants', items, renderTenants);
    root.appendChild(table('tenants-title', ['Tenant', 'Name', 'Live connections', 'External ID', 'Created', 'Actions'],
      pg.items.map(function (t) { return tenantRow(t, live[t.tenantId] || 0); })));
    if (pg.nav) root.appendChild(pg.nav);
  }
  var tenantSearchTimer = null;
  $('tenant-search').addEventListener('input', function () {
    clearTimeout(tenantSearchTimer);
    tenantSearchTimer = setTimeout(function () { pages.tenants = 0; renderTenants(); }, 150);
  });

  function tenantRow(t, live) {
    var tr = el('tr');
    tr.appendChild(cell('Tenant', 'mono', t.tenantId));
    tr.appendChild(cell('Name', null, t.name));
    tr.appendChild(cell('Live connections', null, live + ' of ' + t.maxConnections));
    var ext = cell('External ID', 'small', 'version ' + t.externalIdVersion);
    if (t.graceEndsAt) {
      ext.appendChild(el('br'));
      ext.appendChild(document.createTextNode('version ' + t.previousExternalIdVersion + ' accepted until ' + when(t.graceEndsAt)));
    }
    tr.appendChild(ext);
    tr.appendChild(cell('Created', 'small', when(t.createdAt)));
    var act = cell('Actions', 'actions');
    [['Invite', 'tenant-id', 'invite-ttl'], ['Rotate', 'rotate-tenant', 'rotate-grace'], ['Set limit', 'limit-tenant', 'limit-max']].forEach(function (a) {
      var b = el('button', 'btn secondary small', a[0]);
      b.type = 'button';
      b.setAttribute('aria-label', a[0] + ' ' + t.tenantId);
      b.addEventListener('click', function () {
        $(a[1]).value = t.tenantId;
        if (a[1] === 'tenant-id') $('tenant-name').value = '';
        if (a[1] === 'limit-tenant') $('limit-max').value = String(t.maxConnections);
        $(a[2]).focus();
        $(a[2]).scrollIntoView({ block: 'center' });
      });
      act.appendChild(b);
    });
    tr.appendChild(act);
    return tr;
  }

  // --- connections ------------------------------------------------------------

  // render draws the listing: counts of everything, tables of what the
  // search matches, PAGE rows per status with Previous and Next.
  function render() {
    var root = $('conn-groups');
    var q = ($('conn-search').value || '').trim().toLowerCase();
    root.textContent = '';
    var total = 0, shown = 0;
    groups.forEach(function (all, i) {
      var st = STATUSES[i];
      var n = document.querySelector('[data-count="' + st + '"]');
      if (n) n.textContent = String(all.length);
      total += all.length;
      var items = all.filter(function (c) { return matches(c, q); });
      shown += items.length;
      if (!items.length) return;
      var pg = paged(st, items, render);
      var h = el('h3', null, st + ' (' + items.length + ')');
      h.id = 'group-' + st.toLowerCase();
      root.appendChild(h);
      root.appendChild(table(h.id, ['Tenant', 'Account', 'Role', 'Status', 'Reason', 'Last check', 'Next check', 'Actions'], pg.items.map(row)));
      if (pg.nav) root.appendChild(pg.nav);
    });
    $('conns-empty').hidden = total !== 0;
    $('conn-search-count').textContent = q ? shown + ' of ' + total + ' connections match “' + q + '”.' : '';
  }
  var searchTimer = null;
  $('conn-search').addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { pages = {}; render(); }, 150);
  });

  function cell(label, cls, text) {
    var td = el('td', cls, text);
    td.setAttribute('data-label', label);
    return td;
  }

  function row(c) {
    var tr = el('tr');
    tr.appendChild(cell('Tenant', 'mono', c.tenantId));
    tr.appendChild(cell('Account', 'mono', c.accountId));
    tr.appendChild(cell('Role', 'mono breakable', c.roleArn));
    var st = cell('Status');
    st.appendChild(el('span', 'chip ' + c.status.toLowerCase(), c.status));
    tr.appendChild(st);
    var reason = cell('Reason', 'small');
    if (c.reason) {
      reason.appendChild(el('code', null, c.reason.code || ''));
      if (c.reason.message) { reason.appendChild(el('br')); reason.appendChild(document.createTextNode(c.reason.message)); }
    }
    tr.appendChild(reason);
    tr.appendChild(cell('Last check', 'small', when(c.lastCheckedAt)));
    tr.appendChild(cell('Next check', 'small', when(c.nextCheckAt)));
    var act = cell('Actions', 'actions');
    if (c.status !== 'DISCONNECTED') {
      var label = ' ' + c.tenantId + ' / ' + c.accountId;
      var check = el('button', 'btn secondary small', 'Re-check');
      check.type = 'button';
      check.setAttribute('aria-label', 'Re-check' + label);
      check.addEventListener('click', function () {
        var name = c.tenantId + '/' + c.accountId;
        api('POST', path(c) + '/check').then(function (r) {
          if (!r.ok) { say('Re-check failed: ' + r.error.message, true); return; }
          say('Check of ' + name + ' queued…');
          awaitCheck(c, r.data.lastCheckedAt || c.lastCheckedAt || '', Date.now());
        });
      });
      var disc = el('button', 'btn danger small', 'Disconnect');
      disc.type = 'button';
      disc.setAttribute('aria-label', 'Disconnect' + label);
      disc.addEventListener('click', function () {
        if (!window.confirm('Disconnect ' + c.tenantId + ' / ' + c.accountId + '? RoleCall stops using the role.')) return;
        api('DELETE', path(c)).then(function (r) {
          say(r.ok ? 'Disconnected ' + c.tenantId + '/' + c.accountId + '.' : 'Disconnect failed: ' + r.error.message, !r.ok);
          loadConnections();
        });
      });
      act.appendChild(check);
      act.appendChild(disc);
    }
    tr.appendChild(act);
    return tr;
  }
  // awaitCheck follows a re-check of c until the connection's last check
  // time moves past before, then says what it found.
  function awaitCheck(c, before, started) {
    var name = c.tenantId + '/' + c.accountId;
    findConnection(c.tenantId, c.accountId).then(function (now) {
      if (now && (now.lastCheckedAt || '') !== before) {
        var why = now.reason && now.reason.code ? ' (' + now.reason.code + (now.status === 'VERIFIED' ? '' : ': ' + now.reason.message) + ')' : '';
        say('Re-check of ' + name + ' finished: ' + now.status + why + '.', now.status !== 'VERIFIED');
        loadConnections();
        return;
      }
      if (Date.now() - started > 60000) { say('The re-check of ' + name + ' has not finished after a minute; it is still queued.', true); return; }
      setTimeout(function () { awaitCheck(c, before, started); }, 700);
    });
  }
  function findConnection(tenantId, accountId) {
    function page(cursor) {
      var q = '/v1/tenants/' + encodeURIComponent(tenantId) + '/connections?limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return api('GET', q).then(function (r) {
        if (!r.ok) return null;
        var list = r.data.connections || [];
        for (var i = 0; i < list.length; i++) if (list[i].accountId === accountId) return list[i];
        return r.data.cursor ? page(r.data.cursor) : null;
      });
    }
    return page('');
  }

  function path(c) {
    return '/v1/tenants/' + encodeURIComponent(c.tenantId) + '/connections/' + encodeURIComponent(c.accountId);
  }

  // --- sweeps -------------------------------------------------------------------
  function sweep(all) {
    if (all && !window.confirm('Re-check every live connection now? Each check is an STS call into a customer account.')) return;
    var started = new Date();
    api('POST', '/v1/sweeps', { all: all }).then(function (r) {
      if (!r.ok) { say('Sweep failed: ' + r.error.message, true); return; }
      say('Sweep enqueued ' + r.data.enqueued + ' check(s).');
      if (r.data.enqueued > 0) progress(started, r.data.enqueued, Date.now());
      else setTimeout(loadConnections, 1000);
    });
  }
  // progress shows how many connections were checked since the sweep
  // started, of the ones it enqueued, until all are or a while passed.
  function progress(started, queued, t0) {
    var box = $('sweep-progress'), bar = $('sweep-bar'), label = $('sweep-label');
    box.hidden = false;
    bar.max = queued;
    loadConnections().then(function () {
      var done = 0, failed = 0;
      groups.forEach(function (items) {
        items.forEach(function (c) {
          if (c.lastCheckedAt && new Date(c.lastCheckedAt) >= new Date(started.getTime() - 1000)) {
            done++;
            if (c.status === 'FAILED' || c.status === 'ACCESS_LOST') failed++;
          }
        });
      });
      done = Math.min(done, queued);
      bar.value = done;
      label.textContent = ' ' + done + ' of ' + queued + ' checked' + (failed ? ', ' + failed + ' failing' : '') + '.';
      if (done >= queued) { say('Sweep finished: ' + done + ' checked' + (failed ? ', ' + failed + ' failing.' : ', all well.'), failed > 0); return; }
      if (Date.now() - t0 > 5 * 60000) { say('Sweep: ' + done + ' of ' + queued + ' checked after 5 minutes; the rest are still queued.', true); return; }
      setTimeout(function () { progress(started, queued, t0); }, 1000);
    });
  }
  if ($('sweep-due')) $('sweep-due').addEventListener('click', function () { sweep(false); });
  if ($('sweep-all')) $('sweep-all').addEventListener('click', function () { sweep(true); });

  // --- forms --------------------------------------------------------------------
  // onSubmit runs act when the form is submitted, its error and result
  // cleared first: act gets fail, which shows a message as the form's error,
  // and the element its result goes in.
  function onSubmit(form, errId, outId, act) {
    $(form).addEventListener('submit', function (e) {
      e.preventDefault();
      var err = $(errId);
      var out = $(outId);
      err.hidden = true;
      out.textContent = '';
      act(function (msg) { err.textContent = msg; err.hidden = false; }, out);
    });
  }

  // --- invites ------------------------------------------------------------------
  onSubmit('tenant-form', 'tenant-error', 'invite-result', function (fail, out) {
    var id = $('tenant-id').value.trim();
    var name = $('tenant-name').value.trim();
    var ttl = $('invite-ttl').value;
    var note = '';
    var create = name ? api('POST', '/v1/tenants', { tenantId: id, name: name }) : Promise.resolve({ ok: true });
    create.then(function (r) {
      if (!r.ok && r.error.code !== 'TENANT_EXISTS') return r;
      var invite = '/v1/tenants/' + encodeURIComponent(id) + '/invites';
      if (!ttl) return api('POST', invite);
      return api('POST', invite, { ttlSeconds: parseInt(ttl, 10) }).then(function (r) {
        if (r.ok || r.error.code !== 'UNKNOWN_FIELD') return r;
        // This server's invites have a fixed lifetime.
        note = ' This server does not take an invite lifetime; it used its default.';
        return api('POST', invite);
      });
    }).then(function (r) {
      if (!r.ok) { fail(r.error.message); return; }
      loadConnections(); // a new tenant shows in the list
      out.appendChild(el('p', null, 'Invite for ' + r.data.tenantId + ', valid until ' + when(r.data.expiresAt) + ':' + note));
      var row = el('div', 'copyrow');
      var a = el('a', 'breakable mono', r.data.url);
      a.href = RoleCall.safeURL(r.data.url);
      a.rel = 'noreferrer';
      a.id = 'invite-link';
      var copy = el('button', 'btn secondary small', 'Copy');
      copy.type = 'button';
      copy.id = 'invite-copy';
      var copied = el('span', 'copied');
      copied.id = 'invite-copied';
      copy.addEventListener('click', function () {
        RoleCall.copyText(r.data.url).then(function () {
          copied.textContent = 'Copied to the clipboard.';
          copy.textContent = 'Copied';
          setTimeout(function () { copy.textContent = 'Copy'; }, 2000);
        }, function () { copied.textContent = 'Copying failed: select the link and copy it yourself.'; });
      });
      row.appendChild(a);
      row.appendChild(copy);
      out.appendChild(row);
      out.appendChild(copied);
    });
  });

  // --- rotation -------------------------------------------------------------------
  var GRACE_KEY = 'rolecall.rotateGraceUnsupported';
  function graceSupported() { return sessionStorage.getItem(GRACE_KEY) !== '1'; }
  function showGrace() {
    var f = $('rotate-grace-field');
    if (f) f.hidden = !graceSupported();
    $('rotate-grace-help').textContent = graceSupported()
      ? 'The new external ID is current at once; customers update their trust policy while the previous one is still accepted.'
      : 'The new external ID is current at once; this server keeps the previous one for its default grace period (it does not take a grace period per rotation).';
  }
  showGrace();
  onSubmit('rotate-form', 'rotate-error', 'rotate-result', function (fail, out) {
    var id = $('rotate-tenant').value.trim();
    if (!id) { fail('Enter the tenant ID.'); return; }
    var grace = parseInt($('rotate-grace').value, 10);
    var what = graceSupported() ? (grace ? 'The previous one stays accepted for ' + $('rotate-grace').selectedOptions[0].textContent + '.' : 'The previous one stops working at once: customers whose roles still use it lose access.') : '';
    if (!window.confirm('Rotate the external ID of ' + id + '? ' + what)) return;
    var url = '/v1/tenants/' + encodeURIComponent(id) + '/external-id/rotate';
    var call = graceSupported() ? api('POST', url, { graceSeconds: grace }) : api('POST', url);
    call.then(function (r) {
      if (!r.ok && r.error.code === 'UNKNOWN_FIELD' && r.error.field === 'graceSeconds') {
        // The server reports that it takes no grace period: say so, hide
        // the field, and let the operator decide.
        sessionStorage.setItem(GRACE_KEY, '1');
        showGrace();
        if (!window.confirm('This server does not take a grace period per rotation; it keeps the previous external ID for its default grace period. Rotate ' + id + ' anyway?')) {
          return { ok: true, skipped: true };
        }
        return api('POST', url);
      }
      return r;
    }).then(function (r) {
      if (r.skipped) { out.textContent = 'Not rotated.'; return; }
      if (!r.ok) { fail(r.error.message); return; }
      loadConnections();
      out.appendChild(el('p', null, 'Rotated ' + id + ': external ID version ' + (r.data.externalIdVersion || '?') + ' is current. Customers see the new one on their form; ask them to update their trust policy.'));
    });
  });

  // --- connection limit -------------------------------------------------------------
  onSubmit('limit-form', 'limit-error', 'limit-result', function (fail, out) {
    var id = $('limit-tenant').value.trim();
    var n = $('limit-max').value.trim();
    if (!id) { fail('Enter the tenant ID.'); return; }
    if (!/^[0-9]+$/.test(n)) { fail('Enter the most live connections the tenant may have: a whole number from 1 to 10,000.'); return; }
    api('PATCH', '/v1/tenants/' + encodeURIComponent(id), { maxConnections: parseInt(n, 10) }).then(function (r) {
      if (!r.ok) { fail(r.error.message); return; }
      loadConnections();
      out.appendChild(el('p', null, id + ' may now have ' + r.data.maxConnections + ' live connections.'));
    });
  });

  // --- events ---------------------------------------------------------------------
  function pollEvents() {
    var list = $('events');
    if (!features.events) return;
    clearTimeout(eventsTimer);
    api('GET', '/v1/events?limit=500' + (lastEvent ? '&after=' + encodeURIComponent(lastEvent) : '')).then(function (r) {
      if (r.ok) {
        var evs = r.data.events || [];
        evs.forEach(function (e) {
          var d = e.detail || e.Detail;
          if (typeof d === 'string') { try { d = JSON.parse(d); } catch (x) { d = {}; } }
          d = d || {};
          var type = e['detail-type'] || e.DetailType || '';
          var li = el('li', 'event');
          var top = el('div', 'event-top');
          top.appendChild(el('span', 'event-type', type));
          top.appendChild(el('time', 'muted small', when(d.occurredAt || e.time || e.Time)));
          li.appendChild(top);
          li.appendChild(el('div', 'mono small', (d.tenantId || '') + ' / ' + (d.accountId || '') + ' · ' +
            (d.previousStatus ? d.previousStatus + ' → ' : '') + (d.status || '') + ' · v' + (d.version || '')));
          if (d.reason && d.reason.code) li.appendChild(el('div', 'small', d.reason.code + ': ' + (d.reason.message || '')));
          list.insertBefore(li, list.firstChild);
          if (d.eventId) lastEvent = d.eventId;
        });
        $('events-empty').hidden = list.children.length !== 0;
        if (evs.length) loadConnections();
      } else if (r.error && r.error.code === 'UNKNOWN_EVENT') {
        lastEvent = '';
        list.textContent = '';
      }
      if (token()) eventsTimer = setTimeout(pollEvents, 1500);
    });
  }

  // The page's data: what this RoleCall serves (GET /), then the console
  // when this tab is signed in already.
  var ready = RoleCall.site().then(function (s) {
    features = s.local || {};
    STATUSES = features.statuses || [];
    RoleCall.fill(Object.assign({ partnerName: s.partnerName }, features));
    var counts = $('counts');
    STATUSES.forEach(function (st) {
      var li = el('li', 'count ' + st.toLowerCase());
      var n = el('span', 'n', '0');
      n.setAttribute('data-count', st);
      li.appendChild(n);
      li.appendChild(document.createTextNode(' '));
      li.appendChild(el('span', 'what', st));
      counts.appendChild(li);
    });
  });
  ready.then(function () { if (token()) signIn(); });
})();
