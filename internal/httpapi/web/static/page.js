// RoleCall pages: what the form, the ops page and the home page share. The
// pages are static HTML; their scripts fetch the data from the JSON API and
// put it in with textContent and attributes, never as HTML. Vanilla
// JavaScript, no build step; loaded before each page's own script.
'use strict';
var RoleCall = (function () {
  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // when is a time for people to read, "—" for none.
  function when(t) {
    if (!t) return '—';
    var d = new Date(t);
    if (isNaN(d.getTime())) return '—';
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
  }

  // request calls the API with the Authorization header auth ("" for
  // none) and resolves to {ok, status, data, text} or {ok: false, status,
  // retryAfter, error: {code, message, field?}}; it never rejects.
  function request(method, path, auth, body) {
    var opts = { method: method, cache: 'no-store', credentials: 'omit', headers: { 'Accept': 'application/json' } };
    if (auth) opts.headers['Authorization'] = auth;
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          return { ok: false, status: res.status, retryAfter: parseInt(res.headers.get('Retry-After') || '', 10) || 0,
            error: (data && data.error) || { code: 'HTTP_' + res.status, message: 'The server answered with status ' + res.status + '.' } };
        }
        return { ok: true, status: res.status, data: data, text: text };
      });
    }, function () {
      return { ok: false, status: 0, error: { code: 'NETWORK', message: 'The server could not be reached. Check your connection and try again.' } };
    });
  }

  // site is GET / as JSON: the partner's name and, in `rolecall serve`,
  // what the local pages show (the `local` object).
  var sitePromise = null;
  function site() {
    if (!sitePromise) {
      sitePromise = request('GET', '/', '').then(function (r) {
        return r.ok && r.data ? r.data : { partnerName: 'RoleCall' };
      });
    }
    return sitePromise;
  }

  // fill puts values into the page: an element with data-fill="k" gets
  // data[k] as its text; one with data-show="k" is shown only when data[k]
  // is set, one with data-hide="k" only when it is not.
  function fill(data) {
    function each(sel, fn) { Array.prototype.forEach.call(document.querySelectorAll(sel), fn); }
    each('[data-fill]', function (e) {
      var v = data[e.getAttribute('data-fill')];
      if (v !== undefined && v !== null) e.textContent = String(v);
    });
    each('[data-show]', function (e) { e.hidden = !set(data[e.getAttribute('data-show')]); });
    each('[data-hide]', function (e) { e.hidden = set(data[e.getAttribute('data-hide')]); });
  }
  function set(v) { return !!v && !(Array.isArray(v) && v.length === 0); }

  // safeURL is u when it is an http(s) URL or a path on this server, else
  // "#": a value from the API never becomes a javascript: link.
  function safeURL(u) {
    try {
      var p = new URL(u, location.href).protocol;
      return p === 'https:' || p === 'http:' ? u : '#';
    } catch (e) { return '#'; }
  }

  // copyText puts text on the clipboard, by the Clipboard API where the
  // page may use it, else by a selected textarea; source gets the focus back.
  function copyText(text, source) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text, source); });
    }
    return legacyCopy(text, source);
  }
  function legacyCopy(text, source) {
    return new Promise(function (resolve, reject) {
      var ta = document.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.className = 'offscreen';
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      if (source && source.focus) source.focus();
      if (ok) { resolve(); } else { reject(new Error('copy failed')); }
    });
  }

  // frame puts the skip link, the header (the partner's name and the
  // body's data-subtitle) and the footer around the page's main element,
  // as wide as it is.
  function frame() {
    var main = $('main');
    var skip = el('a', 'skip', 'Skip to content');
    skip.href = '#main';
    var header = el('header', 'top');
    var bar = el('div', main.className);
    var brand = el('span', 'brand', 'RoleCall');
    brand.setAttribute('data-fill', 'partnerName');
    bar.appendChild(brand);
    bar.appendChild(el('span', 'sub', document.body.getAttribute('data-subtitle') || ''));
    header.appendChild(bar);
    document.body.insertBefore(skip, main);
    document.body.insertBefore(header, main);
    main.parentNode.insertBefore(el('footer', main.className + ' foot', 'Connections are verified by RoleCall: it assumes ' +
      'your role with your external ID, checks that the role refuses to be assumed without it, and keeps checking it regularly.'), main.nextSibling);
  }
  frame();

  return { $: $, el: el, when: when, copyText: copyText, request: request, site: site, fill: fill, safeURL: safeURL };
})();
