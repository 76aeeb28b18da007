// RoleCall customer form: the tenant's details from GET /v1/invite (or why
// the invite link does not work), copy buttons, tabs, template download,
// sandbox role, role submission and live status. Vanilla JavaScript, no
// build step; page.js comes first.
'use strict';
(function () {
  var invite = new URLSearchParams(location.search).get('invite') || '';
  var TERMINAL = { VERIFIED: true, FAILED: true, ACCESS_LOST: true, DISCONNECTED: true };
  var LABELS = { PENDING: 'Verifying', VERIFIED: 'Connected', FAILED: 'Failed', ACCESS_LOST: 'Access lost', DISCONNECTED: 'Disconnected' };
  var ARN_SHAPE = /^arn:[a-z-]+:iam::\d{12}:role\/[\w+=,.@\/-]+$/;

  var $ = RoleCall.$, el = RoleCall.el, when = RoleCall.when;
  var inv = null; // GET /v1/invite, once the page has it

  function api(method, path, body) { return RoleCall.request(method, path, 'Invite ' + invite, body); }

  function labelled(td, label) {
    td.setAttribute('data-label', label);
    return td;
  }

  // --- copy buttons -------------------------------------------------------
  function bindCopy(button) {
    button.addEventListener('click', function () {
      var src = $(button.getAttribute('data-copy'));
      if (!src) return;
      var text = src.value !== undefined && src.tagName === 'INPUT' ? src.value : src.textContent;
      var out = $(button.getAttribute('aria-describedby'));
      RoleCall.copyText(text.trim(), button).then(function () {
        if (out) out.textContent = 'Copied to the clipboard.';
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = 'Copy'; }, 2000);
      }, function () {
        if (out) out.textContent = 'Copying failed: select the text and copy it yourself.';
        if (src.select) src.select();
      });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('[data-copy]'), bindCopy);
  var ext = $('external-id');
  if (ext) ext.addEventListener('focus', function () { ext.select(); });

  // --- tabs (WAI-ARIA tabs pattern) -----------------------------------------
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));
  function selectTab(tab, focus) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      var panel = $(t.getAttribute('aria-controls'));
      if (panel) panel.hidden = !on;
    });
    if (focus) tab.focus();
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener('click', function () { selectTab(tab, false); });
    tab.addEventListener('keydown', function (e) {
      var next = null;
      if (e.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
      else if (e.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (e.key === 'Home') next = tabs[0];
      else if (e.key === 'End') next = tabs[tabs.length - 1];
      if (next) { e.preventDefault(); selectTab(next, true); }
    });
  });
  if (tabs.length) selectTab(tabs[0], false);

  // --- template download ----------------------------------------------------
  var dl = $('download-template');
  if (dl) {
    dl.addEventListener('click', function () {
      var status = $('download-status');
      status.textContent = 'Preparing the download…';
      api('GET', inv.templateDownload).then(function (r) {
        if (!r.ok) { status.textContent = r.error.message; return; }
        var url = URL.createObjectURL(new Blob([r.text], { type: 'application/yaml' }));
        var a = document.createElement('a');
        a.href = url;
        a.download = 'customer-role.yaml';
        document.body.appendChild(a);
        a.click();
        document.body.removeChild(a);
        setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
        status.textContent = 'Downloaded customer-role.yaml.';
      });
    });
  }

  // onAction runs call when button is chosen, the button disabled and
  // busy shown in out meanwhile; a refusal shows as failed and its message,
  // an answer goes to done to fill out.
  function onAction(id, out, busy, failed, call, done) {
    var button = $(id);
    button.addEventListener('click', function () {
      out.textContent = busy;
      button.disabled = true;
      call().then(function (r) {
        button.disabled = false;
        out.textContent = '';
        if (!r.ok) { out.textContent = failed + r.error.message; return; }
        done(r.data);
      });
    });
  }

  // copyable is node (given the id) and its Copy button in a box of class
  // cls, then the copy's feedback.
  function copyable(cls, node, id) {
    var box = el('div', cls);
    node.id = id;
    var btn = el('button', 'btn secondary small', 'Copy');
    btn.type = 'button';
    btn.setAttribute('data-copy', id);
    btn.setAttribute('aria-describedby', id + '-copied');
    var copied = el('p', 'copied');
    copied.id = id + '-copied';
    box.appendChild(node);
    box.appendChild(btn);
    bindCopy(btn);
    var both = document.createDocumentFragment();
    both.appendChild(box);
    both.appendChild(copied);
    return both;
  }

  // --- sandbox role -----------------------------------------------------------
  var sandboxOut = $('sandbox-result');
  onAction('sandbox-create', sandboxOut, 'Creating the role…', 'The role could not be created: ', function () {
    return api('PUT', '/_sandbox/roles', { roleArn: inv.sandbox.roleArn, trustPolicy: inv.sandbox.trustPolicy });
  }, function (data) {
    sandboxOut.appendChild(el('p', null, 'Created the role in the sandbox. Its ARN, to paste below:'));
    sandboxOut.appendChild(copyable('copyrow', el('code', 'mono breakable', data.roleArn), 'sandbox-arn'));
    // Fill the ARN field: the next step is to press Connect.
    input.value = data.roleArn;
    clearFieldError();
    sandboxOut.appendChild(el('p', 'help', 'It is filled in below: choose Connect.'));
  });

  // --- role ARN field ---------------------------------------------------------
  var form = $('submit-form');
  var input = $('role-arn');
  var fieldError = $('role-arn-error');
  var submitButton = $('submit-button');
  function showFieldError(msg) {
    fieldError.textContent = msg.charAt(0).toUpperCase() + msg.slice(1);
    fieldError.hidden = false;
    input.setAttribute('aria-invalid', 'true');
  }
  function clearFieldError() {
    fieldError.textContent = '';
    fieldError.hidden = true;
    input.removeAttribute('aria-invalid');
  }
  function localProblem(v) {
    if (v === '') return 'Paste the ARN of the role you created.';
    if (/\s/.test(v)) return 'The ARN contains spaces or line breaks; remove them.';
    if (!ARN_SHAPE.test(v)) return 'This does not look like a role ARN: arn:aws:iam::<12-digit account ID>:role/<role name>.';
    return '';
  }
  // Inline validation while typing or pasting, never on blur: a message
  // that appears on blur moves the button under a pointer that is about to
  // click it.
  var checkTimer = null;
  function liveCheck(delay) {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(function () {
      var v = input.value.trim();
      var problem = v === '' ? '' : localProblem(v);
      if (problem) showFieldError(problem); else clearFieldError();
    }, delay);
  }
  if (input) {
    input.addEventListener('input', function (e) {
      liveCheck(e.inputType === 'insertFromPaste' ? 0 : 800);
    });
  }

  // --- status ---------------------------------------------------------------
  var statusCard = $('status-card');
  var statusBox = $('status');
  var statusDetail = $('status-detail');
  var expectedPolicy = $('expected-policy');
  var windowSeconds = 0; // the propagation window, from the invite
  var pollTimer = null;
  var countdownTimer = null;
  var pollStarted = 0;
  var current = null;  // the connection shown
  var attemptTimes = {}; // attempt number → when this page saw it happen
  var shownKey = '';

  function setStepper(state) {
    // state: submitted | verifying | connected | failed
    var order = ['submitted', 'verifying', 'connected'];
    var cur = state === 'failed' ? 1 : order.indexOf(state);
    Array.prototype.forEach.call(document.querySelectorAll('#stepper li'), function (li, i) {
      li.className = i < cur ? 'done' : (i === cur ? (state === 'failed' ? 'failed' : (state === 'connected' ? 'done' : 'current')) : '');
      if (i === cur) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
    });
  }

  function clearStatus() {
    if (pollTimer) clearTimeout(pollTimer);
    if (countdownTimer) clearInterval(countdownTimer);
    pollTimer = countdownTimer = null;
    current = null;
    shownKey = '';
    attemptTimes = {};
    statusBox.textContent = '';
    statusDetail.textContent = '';
    expectedPolicy.hidden = true;
    statusCard.hidden = true;
  }

  function timeOf(t) {
    var d = new Date(t);
    return isNaN(d.getTime()) ? '' : d.toISOString().substr(11, 8) + ' UTC';
  }

  // windowLeft is the seconds left in the propagation window, or -1 when
  // it is not known.
  function windowLeft(c) {
    var end = c.propagationWindowEndsAt ? new Date(c.propagationWindowEndsAt).getTime()
      : (windowSeconds && c.submittedAt ? new Date(c.submittedAt).getTime() + windowSeconds * 1000 : NaN);
    if (isNaN(end)) return -1;
    return Math.max(0, Math.round((end - Date.now()) / 1000));
  }
  function duration(s) {
    var m = Math.floor(s / 60), r = s % 60;
    return (m ? m + ' min ' : '') + r + ' s';
  }

  var STEP_MARK = { ok: '✓', failed: '✗', 'not run': '–', unknown: '?' };
  function stepList(steps) {
    var wrap = el('div', 'checks-wrap');
    wrap.appendChild(el('h3', null, 'What the last check found'));
    var ol = el('ol', 'checks');
    ol.id = 'check-steps';
    steps.forEach(function (st) {
      var li = el('li', 'check ' + st.result.replace(' ', '-'));
      li.setAttribute('data-result', st.result);
      var mark = el('span', 'mark', STEP_MARK[st.result] || '?');
      mark.setAttribute('aria-hidden', 'true');
      li.appendChild(mark);
      var body = el('div');
      var name = el('span', 'check-name', st.name.charAt(0).toUpperCase() + st.name.slice(1));
      body.appendChild(name);
      body.appendChild(el('span', 'visually-hidden', ': ' + st.result));
      body.appendChild(el('span', 'check-result small', ' — ' + (st.result === 'not run' ? 'not run: an earlier step failed' : st.result === 'unknown' ? 'not known' : st.result)));
      body.appendChild(el('div', 'muted small', st.meaning));
      li.appendChild(body);
      ol.appendChild(li);
    });
    wrap.appendChild(ol);
    return wrap;
  }

  function deniedCauses() {
    return [
      'The role name or the account ID in the ARN is mistyped, or the role does not exist (yet). Compare the ARN with the role in the IAM console.',
      'The trust policy names another principal than ' + (inv.trustedPrincipalArn || 'the principal shown above') + '.',
      'The sts:ExternalId condition holds another value than your external ID shown above.'
    ];
  }

  function checkAgainButton(c) {
    var p = el('p', 'check-again');
    var b = el('button', 'btn secondary', 'Check again now');
    b.type = 'button';
    b.id = 'check-again';
    var out = el('span', 'small');
    out.id = 'check-again-status';
    out.setAttribute('role', 'status');
    function ask() {
      b.disabled = true;
      out.textContent = ' Asking RoleCall to check the role…';
      api('POST', '/v1/connections/' + encodeURIComponent(c.accountId) + '/check', {}).then(function (r) {
        if (!r.ok && r.status === 429 && r.retryAfter > 0 && r.retryAfter <= 30) {
          // Checked a moment ago: ask again when the server allows it.
          out.textContent = ' The role was checked a moment ago; checking again in ' + r.retryAfter + ' s.';
          setTimeout(function () { if (document.body.contains(b)) ask(); }, r.retryAfter * 1000);
          return;
        }
        b.disabled = false;
        if (!r.ok) { out.textContent = ' ' + r.error.message.charAt(0).toUpperCase() + r.error.message.slice(1) + '.'; return; }
        out.textContent = ' A check is on its way; the status updates by itself.';
        poll(c.accountId, c.lastCheckedAt || '');
      });
    }
    b.addEventListener('click', ask);
    p.appendChild(b);
    p.appendChild(out);
    return p;
  }

  function renderDetail(c) {
    statusDetail.textContent = '';
    var pending = c.status === 'PENDING';
    var attempts = c.attempts || 0;
    if (pending && attempts > 0) {
      if (c.lastCheckedAt && !attemptTimes[attempts]) attemptTimes[attempts] = c.lastCheckedAt;
      var box = el('div', 'propagation');
      box.id = 'propagation';
      var left = windowLeft(c);
      var p = el('p', null, 'AWS has not made the role usable yet: a new IAM role can take a minute or two. RoleCall keeps trying ');
      var cd = el('strong', null, left >= 0 ? 'for ' + duration(left) + ' more' : 'for a while');
      cd.id = 'window-left';
      cd.setAttribute('aria-live', 'off');
      p.appendChild(cd);
      p.appendChild(document.createTextNode(' before it reports a failure.'));
      box.appendChild(p);
      var ol = el('ol', 'attempts');
      ol.id = 'attempts';
      for (var i = 1; i <= attempts; i++) {
        var at = attemptTimes[i];
        ol.appendChild(el('li', null, 'Attempt ' + i + (at ? ' at ' + timeOf(at) : '') + ': access denied.'));
      }
      box.appendChild(ol);
      if (c.nextCheckAt) box.appendChild(el('p', 'muted small', 'Next attempt at about ' + timeOf(c.nextCheckAt) + '.'));
      box.appendChild(checkAgainButton(c));
      statusDetail.appendChild(box);
    }
    var failing = c.status === 'FAILED' || c.status === 'ACCESS_LOST';
    if (c.steps && c.steps.length && (failing || (pending && attempts > 0))) statusDetail.appendChild(stepList(c.steps));
    // The trust policy to compare with: when the role refuses RoleCall, or
    // accepts more than the tenant's external ID.
    var code = c.reason && c.reason.code;
    var showPolicy = (failing && (code === 'ASSUME_DENIED' || code === 'EXTERNAL_ID_NOT_ENFORCED')) || (pending && attempts > 0);
    if (failing && c.reason && c.reason.code === 'ASSUME_DENIED') {
      var causes = el('div', 'causes');
      causes.appendChild(el('h3', null, 'Possible causes, most likely first'));
      var list = el('ol');
      list.id = 'denied-causes';
      deniedCauses().forEach(function (t) { list.appendChild(el('li', null, t)); });
      causes.appendChild(list);
      statusDetail.appendChild(causes);
    }
    expectedPolicy.hidden = !(showPolicy && inv.trustPolicy);
    if (failing) statusDetail.appendChild(checkAgainButton(c));
  }

  function showStatus(c) {
    current = c;
    statusCard.hidden = false;
    // Re-render only what changed, so the live region is not re-announced
    // every poll; the countdown ticks on its own.
    var key = [c.accountId, c.status, c.version, c.attempts, c.lastCheckedAt, c.reason && c.reason.code,
      c.candidate && c.candidate.status, c.candidate && c.candidate.roleArn].join('|');
    if (key === shownKey) return;
    shownKey = key;
    statusBox.textContent = '';
    var head = el('p', 'status-line');
    var chip = el('span', 'chip ' + c.status.toLowerCase(), LABELS[c.status] || c.status);
    head.appendChild(chip);
    var msg;
    if (c.status === 'PENDING') {
      var tried = !!c.lastCheckedAt;
      setStepper(tried ? 'verifying' : 'submitted');
      chip.textContent = tried ? 'Verifying' : 'Submitted';
      msg = tried ? 'RoleCall is verifying the role.' : 'The role was submitted. RoleCall is verifying it…';
    } else if (c.status === 'VERIFIED') {
      setStepper('connected');
      msg = (c.reason && c.reason.message ? c.reason.message : 'RoleCall can use the role.');
    } else {
      setStepper('failed');
      msg = c.reason && c.reason.message ? c.reason.message : 'The role could not be verified.';
    }
    head.appendChild(document.createTextNode(' ' + msg));
    statusBox.appendChild(head);
    if (c.status !== 'VERIFIED' && c.status !== 'PENDING' && c.reason) {
      if (c.reason.code) statusBox.appendChild(el('p', 'muted small', 'Reason code: ' + c.reason.code));
      if (c.reason.hint) {
        var hint = el('p', 'hint');
        hint.appendChild(el('strong', null, 'What to change: '));
        hint.appendChild(document.createTextNode(c.reason.hint));
        statusBox.appendChild(hint);
      }
      statusBox.appendChild(el('p', 'muted small', 'After you fix the role, choose Check again now (or submit its ARN again); RoleCall also re-checks it regularly.'));
    }
    var k = c.candidate;
    if (k && k.roleArn) {
      // A new role for a connected account: the connected role stays in use
      // until the new one is verified, and stays if it fails.
      var cand = el('p', k.status === 'FAILED' ? 'hint' : 'muted small');
      cand.appendChild(el('strong', null, k.status === 'FAILED' ? 'New role not used: ' : 'New role being verified: '));
      cand.appendChild(document.createTextNode(k.roleArn + ' — ' + (k.reason && k.reason.message ? k.reason.message : '') +
        (k.status === 'FAILED' && k.reason && k.reason.hint ? ' ' + k.reason.hint : '')));
      statusBox.appendChild(cand);
    }
    statusBox.appendChild(el('p', 'muted small', 'Account ' + c.accountId + ' · last check ' + when(c.lastCheckedAt)));
    renderDetail(c);
  }

  // settled: nothing more will change without a new check (a candidate
  // role being verified keeps the status moving).
  function settled(c) { return TERMINAL[c.status] && !(c.candidate && c.candidate.status === 'PENDING'); }

  function tickCountdown() {
    var cd = $('window-left');
    if (!cd || !current || current.status !== 'PENDING') return;
    var left = windowLeft(current);
    if (left >= 0) cd.textContent = 'for ' + duration(left) + ' more';
  }

  // poll follows the connection until it settles; with baseline (the
  // lastCheckedAt before a requested check) until that check has run.
  function poll(accountId, baseline) {
    if (pollTimer) clearTimeout(pollTimer);
    if (!countdownTimer) countdownTimer = setInterval(tickCountdown, 1000);
    pollStarted = Date.now();
    function tick() {
      api('GET', '/v1/connections/' + encodeURIComponent(accountId)).then(function (r) {
        if (r.ok) {
          if (!current || current.accountId !== r.data.accountId) return; // another account is shown now
          showStatus(r.data);
          // After "Check again now" on a failed role, wait for that check
          // (a new lastCheckedAt) or half a minute.
          var waiting = baseline !== undefined && (r.data.lastCheckedAt || '') === baseline && Date.now() - pollStarted < 30000;
          if (settled(r.data) && !waiting) { refreshConnections(); return; }
        }
        var elapsed = Date.now() - pollStarted;
        pollTimer = setTimeout(tick, elapsed < 30000 ? 1000 : 3000);
      });
    }
    pollTimer = setTimeout(tick, baseline !== undefined ? 300 : 500);
  }

  if (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var v = input.value.trim();
      clearTimeout(checkTimer);
      clearFieldError();
      if (v === '') { clearStatus(); showFieldError(localProblem('')); input.focus(); return; }
      submitButton.disabled = true;
      api('POST', '/v1/connections', { roleArn: v }).then(function (r) {
        submitButton.disabled = false;
        if (!r.ok) {
          // A refused ARN is not the account shown below: its status goes.
          clearStatus();
          if (r.status === 401) {
            showFieldError(r.error.message + ' Reload the page from your invite link.');
          } else {
            showFieldError(r.error.message);
          }
          input.focus();
          return;
        }
        if (!current || current.accountId !== r.data.accountId) { attemptTimes = {}; shownKey = ''; }
        showStatus(r.data);
        statusCard.scrollIntoView({ behavior: 'smooth', block: 'start' });
        statusCard.focus({ preventScroll: true });
        refreshConnections();
        if (!settled(r.data)) poll(r.data.accountId);
      });
    });
  }

  // rotationNote tells the customer what to change when the role was
  // last verified with an older external ID than the current one: during
  // a rotation's grace, with the previous ID (the role still trusts only
  // it, or was not checked since the rotation), list both IDs in the trust
  // policy, then only the new one; with an ID no longer accepted (two
  // rotations back, or the grace over), trust the current one.
  function rotationNote(c, inv) {
    // A check that fell back to the previous ID records that ID's version,
    // so an older version is the whole test (a connection stored before
    // externalIdCurrent existed reads it false at the current version).
    if (!c.externalIdVersion || (c.status !== 'VERIFIED' && c.status !== 'ACCESS_LOST') ||
        c.externalIdVersion >= inv.externalIdVersion) return null;
    if (c.externalIdVersion !== inv.externalIdVersion - 1 || !inv.previousExternalId) {
      return el('span', 'hint small', 'This role was last verified with an external ID that is no longer accepted. ' +
        'Change its trust policy condition to "sts:ExternalId": "' + inv.externalId + '".');
    }
    var uses = c.externalIdCurrent === false ? 'This role still uses the previous external ID' :
      'This role was last verified with the previous external ID';
    return el('span', 'hint small', uses + ', accepted until ' + when(inv.graceEndsAt) +
      '. Change its trust policy condition to "sts:ExternalId": ["' + inv.externalId + '", "' + inv.previousExternalId +
      '"], then, once this connection no longer shows this note, to "' + inv.externalId + '" only.');
  }

  // --- connections table ------------------------------------------------------
  function refreshConnections() {
    api('GET', '/v1/invite').then(function (r) {
      if (r.ok) showConnections(r.data);
    });
  }
  function showConnections(data) {
    var list = data.connections || [];
    var tbody = document.querySelector('#conns tbody');
    var wrap = document.querySelector('.table-scroll');
    tbody.textContent = '';
    list.forEach(function (c) {
      var tr = document.createElement('tr');
      tr.appendChild(labelled(el('td', 'mono', c.accountId), 'Account'));
      tr.appendChild(labelled(el('td', 'mono breakable', c.roleArn), 'Role'));
      var st = labelled(el('td'), 'Status');
      st.appendChild(el('span', 'chip ' + c.status.toLowerCase(), LABELS[c.status] || c.status));
      if (c.status !== 'VERIFIED' && c.reason && c.reason.message) {
        st.appendChild(document.createElement('br'));
        st.appendChild(el('span', 'muted small', c.reason.message));
      }
      var note = rotationNote(c, data);
      if (note) { st.appendChild(document.createElement('br')); st.appendChild(note); }
      tr.appendChild(st);
      var td = labelled(el('td'), 'Last check');
      var time = el('time', null, when(c.lastCheckedAt));
      if (c.lastCheckedAt) time.setAttribute('datetime', c.lastCheckedAt);
      td.appendChild(time);
      tr.appendChild(td);
      tbody.appendChild(tr);
    });
    wrap.hidden = list.length === 0;
    $('conns-empty').hidden = list.length !== 0;
  }

  // --- sandbox stack: the role and its self-registration --------------------
  var stackOut = $('sandbox-stack-result');
  onAction('sandbox-launch', stackOut, 'Launching the stack: creating the role, then registering it…', 'The stack could not be launched: ', function () {
    return api('POST', '/_sandbox/stacks');
  }, function (data) {
    var st = data.stack;
    var detail = st.reason ? ': ' + st.reason : (st.data && st.data.Status ? ' (connection ' + st.data.Status + ')' : '');
    var line = el('p', null, 'The stack\'s registration answered CloudFormation ' + st.status + detail + '.');
    line.id = 'sandbox-stack-status';
    stackOut.appendChild(line);
    stackOut.appendChild(el('p', 'muted small', 'Stack ' + st.stackId));
    var c = data.connection;
    if (c) {
      showStatus(c);
      refreshConnections();
      if (!TERMINAL[c.status]) poll(c.accountId);
    }
  });

  // --- self-registering stack: a registration token, shown once -------------
  var regOut = $('self-register-result');
  onAction('self-register', regOut, 'Creating a registration token…', 'No token was created: ', function () {
    return api('POST', '/v1/invite/registration');
  }, function (data) {
    regOut.appendChild(el('p', null, 'Registration token ' + data.tokenId + ', valid until ' + when(data.expiresAt) +
      '. It is shown only now and lets a stack register roles for your organisation: keep it like a password.'));
    if (data.quickCreateUrl) {
      var a = el('a', 'btn', 'Launch the self-registering stack in the AWS console');
      a.id = 'self-register-link';
      a.href = RoleCall.safeURL(data.quickCreateUrl);
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      var p = el('p');
      p.appendChild(a);
      regOut.appendChild(p);
    }
    var pre = el('pre');
    pre.tabIndex = 0;
    pre.appendChild(el('code', null, data.stackSet));
    regOut.appendChild(el('p', null, 'For every account of an AWS Organization (run in the management account):'));
    regOut.appendChild(copyable('codebox', pre, 'stackset-snippet'));
  });

  // --- the page's data ----------------------------------------------------------
  // PROBLEMS are what the form says instead when the invite link does not
  // work, by the API's error code.
  var PROBLEMS = {
    INVITE_EXPIRED: ['This invite link has expired', 'Invite links are valid for a limited time. Ask {partner} for a new one.'],
    INVITE_REVOKED: ['This invite link was revoked', 'The partner withdrew this link. Ask {partner} for a new one.'],
    INVALID_INVITE: ['This invite link is not valid', 'Check that you copied the whole link, or ask {partner} for a new one.'],
    MISSING: ['An invite link is needed', 'Open this page from the invite link your partner sent you. It ends with ?invite= and a code.'],
    INTERNAL: ['Something went wrong on our side', 'Try again in a minute.']
  };
  function showProblem(code, partner) {
    var p = PROBLEMS[code] || PROBLEMS.INTERNAL;
    document.title = p[0];
    $('problem-title').textContent = p[0];
    $('problem-message').textContent = p[1].split('{partner}').join(partner);
    $('loading').hidden = true;
    $('problem').hidden = false;
  }

  function showForm(data) {
    inv = data;
    RoleCall.fill(data);
    document.title = 'Connect your AWS account to ' + data.partnerName;
    ext.value = data.externalId;
    windowSeconds = data.propagationWindowSeconds || 0;
    $('quick-create').href = RoleCall.safeURL(data.quickCreateUrl || '#');
    if (data.sandbox) $('sandbox-account').textContent = data.sandbox.accountId;
    if (data.roleName) input.placeholder = 'arn:aws:iam::111122223333:role/' + data.roleName;
    if (data.trustPolicy) $('expected-trust-policy').firstChild.textContent = JSON.stringify(data.trustPolicy, null, 2);
    showConnections(data);
    $('loading').hidden = true;
    $('form').hidden = false;
  }

  if (!invite) {
    RoleCall.site().then(function (s) { RoleCall.fill(s); showProblem('MISSING', s.partnerName); });
  } else {
    api('GET', '/v1/invite').then(function (r) {
      if (r.ok) { showForm(r.data); return; }
      RoleCall.site().then(function (s) { RoleCall.fill(s); showProblem(r.error.code, s.partnerName); });
    });
  }
})();
