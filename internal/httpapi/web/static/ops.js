// RoleCall ops page: connections by status, re-check and disconnect, invites,
// sweeps and the live event feed. Vanilla JavaScript, no build step.
'use strict';
(function () {
  var STATUSES = ['PENDING', 'VERIFIED', 'FAILED', 'ACCESS_LOST', 'DISCONNECTED'];
  var KEY = 'rolecall.opsToken';
  var lastEvent = '';
  var eventsTimer = null;
  var connsTimer = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function when(t) {
    if (!t) return '—';
    var d = new Date(t);
    if (isNaN(d.getTime())) return '—';
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
  }
  function token() { return sessionStorage.getItem(KEY) || ''; }

  function api(method, path, body) {
    var opts = { method: method, cache: 'no-store', credentials: 'omit',
      headers: { 'Authorization': 'Bearer ' + token(), 'Accept': 'application/json' } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.status === 401) signOut('The token was not accepted.');
        if (!res.ok) return { ok: false, status: res.status, error: (data && data.error) || { message: 'HTTP ' + res.status } };
        return { ok: true, status: res.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, error: { message: 'The server could not be reached.' } };
    });
  }

  function say(msg) { $('ops-message').textContent = msg; }

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
    signIn();
  });
  $('signout').addEventListener('click', function () { signOut(''); });
  $('refresh').addEventListener('click', function () { loadConnections(); });

  // --- connections ------------------------------------------------------------
  function listAll(status) {
    var items = [];
    function page(cursor) {
      var q = '/v1/connections?status=' + status + '&limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return api('GET', q).then(function (r) {
        if (!r.ok) throw r.error;
        items = items.concat(r.data.connections || []);
        if (r.data.cursor && items.length < 5000) return page(r.data.cursor);
        return items;
      });
    }
    return page('');
  }

  function loadConnections() {
    clearTimeout(connsTimer);
    Promise.all(STATUSES.map(listAll)).then(function (groups) {
      var root = $('conn-groups');
      root.textContent = '';
      var total = 0;
      groups.forEach(function (items, i) {
        var st = STATUSES[i];
        var n = document.querySelector('[data-count="' + st + '"]');
        if (n) n.textContent = String(items.length);
        total += items.length;
        if (!items.length) return;
        var h = el('h3', null, st + ' (' + items.length + ')');
        h.id = 'group-' + st.toLowerCase();
        root.appendChild(h);
        var wrap = el('div', 'table-scroll');
        wrap.tabIndex = 0;
        wrap.setAttribute('role', 'region');
        wrap.setAttribute('aria-labelledby', h.id);
        var table = el('table', 'stack');
        var thead = el('thead');
        var hr = el('tr');
        ['Tenant', 'Account', 'Role', 'Status', 'Reason', 'Last check', 'Next check', 'Actions'].forEach(function (t) {
          var th = el('th', null, t);
          th.scope = 'col';
          hr.appendChild(th);
        });
        thead.appendChild(hr);
        table.appendChild(thead);
        var tb = el('tbody');
        items.forEach(function (c) { tb.appendChild(row(c)); });
        table.appendChild(tb);
        wrap.appendChild(table);
        root.appendChild(wrap);
      });
      $('conns-empty').hidden = total !== 0;
    }, function (err) {
      say('Could not list connections: ' + (err && err.message ? err.message : 'error'));
    }).then(function () {
      if (token()) connsTimer = setTimeout(loadConnections, 15000);
    });
  }

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
        api('POST', path(c) + '/check').then(function (r) {
          say(r.ok ? 'Check of ' + c.tenantId + '/' + c.accountId + ' queued.' : 'Re-check failed: ' + r.error.message);
        });
      });
      var disc = el('button', 'btn danger small', 'Disconnect');
      disc.type = 'button';
      disc.setAttribute('aria-label', 'Disconnect' + label);
      disc.addEventListener('click', function () {
        if (!window.confirm('Disconnect ' + c.tenantId + ' / ' + c.accountId + '? RoleCall stops using the role.')) return;
        api('DELETE', path(c)).then(function (r) {
          say(r.ok ? 'Disconnected ' + c.tenantId + '/' + c.accountId + '.' : 'Disconnect failed: ' + r.error.message);
          loadConnections();
        });
      });
      act.appendChild(check);
      act.appendChild(disc);
    }
    tr.appendChild(act);
    return tr;
  }
  function path(c) {
    return '/v1/tenants/' + encodeURIComponent(c.tenantId) + '/connections/' + encodeURIComponent(c.accountId);
  }

  // --- sweeps -------------------------------------------------------------------
  function sweep(all) {
    api('POST', '/v1/sweeps', { all: all }).then(function (r) {
      say(r.ok ? 'Sweep enqueued ' + r.data.enqueued + ' check(s).' : 'Sweep failed: ' + r.error.message);
      setTimeout(loadConnections, 1000);
    });
  }
  if ($('sweep-due')) $('sweep-due').addEventListener('click', function () { sweep(false); });
  if ($('sweep-all')) $('sweep-all').addEventListener('click', function () { sweep(true); });

  // --- invites ------------------------------------------------------------------
  $('tenant-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var id = $('tenant-id').value.trim();
    var name = $('tenant-name').value.trim();
    var err = $('tenant-error');
    var out = $('invite-result');
    err.hidden = true;
    out.textContent = '';
    var create = name ? api('POST', '/v1/tenants', { tenantId: id, name: name }) : Promise.resolve({ ok: true });
    create.then(function (r) {
      if (!r.ok && r.error.code !== 'TENANT_EXISTS') return r;
      return api('POST', '/v1/tenants/' + encodeURIComponent(id) + '/invites');
    }).then(function (r) {
      if (!r.ok) { err.textContent = r.error.message; err.hidden = false; return; }
      out.appendChild(el('p', null, 'Invite for ' + r.data.tenantId + ', valid until ' + when(r.data.expiresAt) + ':'));
      var a = el('a', 'breakable mono', r.data.url);
      a.href = r.data.url;
      a.rel = 'noreferrer';
      a.id = 'invite-link';
      out.appendChild(a);
    });
  });

  // --- events ---------------------------------------------------------------------
  function pollEvents() {
    var list = $('events');
    if (!list) return;
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

  if (token()) signIn();
})();
