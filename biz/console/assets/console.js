// The launch console: polls GET /v1/admin/console once a second (one request at a time) with the admin token
// the operator typed, kept in this tab's sessionStorage only, and draws the view. Every value goes into the
// page as text (textContent), never as markup. Countdowns run between polls from the shop's clock ("now" in
// the view), not the browser's.
(function () {
  'use strict';

  var TOKEN_KEY = 'recordshop.console.token';
  var ENDPOINT = '/v1/admin/console';
  var POLL_MS = 1000;
  var STALE_MS = 5000;
  var SVG = 'http://www.w3.org/2000/svg';

  var view = null;        // the latest view
  var receivedAt = 0;     // performance.now() when it arrived
  var polling = false;
  var failure = '';       // why the latest poll failed ('' when it did not)

  function $(id) { return document.getElementById(id); }

  // el makes an element with an optional class, text and data-field name (the name setField finds it by).
  function el(tag, cls, text, name) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (name) { e.dataset.field = name; }
    return e;
  }

  function field(root, name) { return root.querySelector('[data-field="' + name + '"]'); }

  function setField(root, name, text) {
    var f = field(root, name);
    if (f) { f.textContent = text; }
  }

  // --- the token -----------------------------------------------------------------------------------------

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function askToken(message) {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off: nothing kept */ }
    $('main').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setStatus('down', 'signed out');
    $('token').focus();
  }

  $('login-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var t = $('token').value.trim();
    if (!t) { return; }
    try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) {
      $('login-error').textContent = 'This browser keeps no sessionStorage here; the console cannot keep the token.';
      return;
    }
    $('token').value = '';
    $('login').hidden = true;
    $('login-error').textContent = '';
    poll();
  });

  $('forget').addEventListener('click', function () { askToken('Token forgotten.'); });

  // --- polling -------------------------------------------------------------------------------------------

  function poll() {
    var t = token();
    if (!t) { askToken(''); return; }
    if (polling) { return; }
    polling = true;
    fetch(ENDPOINT, { headers: { 'Authorization': 'Bearer ' + t, 'Accept': 'application/json' }, cache: 'no-store', credentials: 'omit' })
      .then(function (res) {
        if (res.status === 401) { polling = false; askToken('The shop did not accept that token.'); return null; }
        if (res.status === 403) { polling = false; askToken('That token is not an admin token.'); return null; }
        return res.json().then(function (body) {
          if (!res.ok) { throw new Error((body && (body.detail || body.title)) || ('HTTP ' + res.status)); }
          return body;
        });
      })
      .then(function (body) {
        if (body === null) { return; }
        view = body;
        receivedAt = performance.now();
        failure = '';
        render();
        schedule();
      })
      .catch(function (err) {
        failure = (err && err.message) ? err.message : 'the shop did not answer';
        schedule();
      });
  }

  function schedule() {
    polling = false;
    setTimeout(poll, POLL_MS);
  }

  // The shop's clock now: the view's time plus what elapsed here since it arrived.
  function shopNow() {
    if (!view) { return Date.now(); }
    return Date.parse(view.now) + (performance.now() - receivedAt);
  }

  // --- formatting ----------------------------------------------------------------------------------------

  function two(n) { return (n < 10 ? '0' : '') + n; }

  function clock(iso) {
    var d = new Date(iso);
    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  }

  function span(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    var out = two(h) + ':' + two(m) + ':' + two(s % 60);
    return d > 0 ? d + 'd ' + out : out;
  }

  function ago(iso) {
    var s = Math.max(0, (shopNow() - Date.parse(iso)) / 1000);
    if (s < 60) { return Math.round(s) + ' s ago'; }
    if (s < 3600) { return Math.round(s / 60) + ' min ago'; }
    return Math.round(s / 3600) + ' h ago';
  }

  function rate(x) { return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2); }

  function ms(x) { return x === null || x === undefined ? '—' : (x >= 100 ? x.toFixed(0) : x.toFixed(x >= 10 ? 1 : 2)) + ' ms'; }

  // seconds writes a duration given in seconds: "0", "4.2 ms", "180 ms", "2.5 s".
  function seconds(x) {
    if (x === null || x === undefined) { return '—'; }
    if (x === 0) { return '0'; }
    if (x < 1) { return (x * 1000).toFixed(x < 0.01 ? 1 : 0) + ' ms'; }
    return x.toFixed(1) + ' s';
  }

  // pair writes two durations that share a unit once: "6.1 / 21 ms".
  function pair(a, b) {
    var x = seconds(a), y = seconds(b);
    var ux = x.split(' ')[1], uy = y.split(' ')[1];
    return ux && ux === uy ? x.split(' ')[0] + ' / ' + y : x + ' / ' + y;
  }

  function count(n) { return n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'); }

  // --- drawing -------------------------------------------------------------------------------------------

  function setStatus(kind, text) {
    var s = $('status');
    s.className = 'status ' + kind;
    s.lastElementChild.textContent = text;
  }

  function render() {
    $('main').hidden = false;
    $('forget').hidden = false;
    var live = $('live-error');
    live.hidden = view.live === 'ok';
    live.textContent = view.live === 'ok' ? '' : (view.live_error || 'The live counts could not be read.');
    drawDiscs();
    drawReconcile();
    drawWriter();
    tick();
  }

  function drawDiscs() {
    var box = $('discs');
    var cards = view.discs.map(discCard);
    box.replaceChildren.apply(box, cards);
    $('no-discs').hidden = view.discs.length > 0;
  }

  function discCard(d) {
    var soldOut = d.sold_out_at !== null;
    var card = el('article', 'disc' + (soldOut ? ' soldout' : ''));
    card.dataset.disc = String(d.id);
    card.dataset.startsAt = d.sale_starts_at;

    var head = el('header');
    var h = el('h2', null, d.name);
    h.appendChild(el('small', null, d.artist + ' · disc ' + d.id));
    head.appendChild(h);
    var badge = el('span', 'badge', '', 'badge');
    if (soldOut) {
      badge.className = 'badge soldout';
      badge.textContent = 'SOLD OUT';
    } else if (d.on_sale) {
      badge.className = 'badge onsale';
      badge.textContent = 'ON SALE';
    } else {
      badge.className = 'badge soon';
      badge.textContent = 'SOON';
    }
    head.appendChild(badge);
    card.appendChild(head);

    var stock = el('div', 'stock');
    var big = el('div', 'big');
    var avail = el('span', null, count(d.available), 'available');
    big.appendChild(avail);
    var of = el('small', null, 'of ');
    var supplied = el('span', null, count(d.supplied), 'supplied');
    of.appendChild(supplied);
    of.appendChild(document.createTextNode(' left'));
    big.appendChild(of);
    stock.appendChild(big);
    var sold = el('div', 'sold', '');
    var soldN = el('b', null, count(d.sold), 'sold');
    sold.appendChild(soldN);
    sold.appendChild(document.createTextNode(' sold'));
    stock.appendChild(sold);
    card.appendChild(stock);

    var bar = el('div', 'bar');
    var fill = el('i');
    var frac = d.supplied > 0 && d.sold !== null ? Math.min(1, Math.max(0, d.sold / d.supplied)) : 0;
    fill.style.width = (frac * 100).toFixed(1) + '%';
    bar.appendChild(fill);
    card.appendChild(bar);

    var when = el('div', 'when', null, 'when');
    if (soldOut) {
      when.appendChild(document.createTextNode('sold out at '));
      var at = el('b', null, clock(d.sold_out_at), 'sold-out-at');
      when.appendChild(at);
      when.appendChild(document.createTextNode(' · on sale since ' + clock(d.sale_starts_at)));
    } else if (d.on_sale) {
      when.appendChild(document.createTextNode('on sale since ' + clock(d.sale_starts_at)));
    } else {
      when.appendChild(document.createTextNode('starts in '));
      var cd = el('b', null, '', 'countdown');
      when.appendChild(cd);
      when.appendChild(document.createTextNode(' · at ' + clock(d.sale_starts_at)));
    }
    card.appendChild(when);

    var o = d.orders;
    var rates = el('div', 'rates');
    rates.appendChild(figure('', rate(o.per_second), 'orders/s · now ' + o.last_second, 'orders-per-second'));
    rates.appendChild(figure('c201', rate(o.created_per_second), '201/s', 'created-per-second'));
    rates.appendChild(figure('c409', rate(o.conflict_per_second), '409/s', 'conflict-per-second'));
    rates.appendChild(figure('c503', rate(o.unavailable_per_second), '503/s', 'unavailable-per-second'));
    card.appendChild(rates);
    card.appendChild(sparkline(o.series));

    var foot = el('div', 'foot');
    var lat = el('span', null, 'p50 ' + ms(o.p50_ms) + ' · p99 ' + ms(o.p99_ms), 'latency');
    foot.appendChild(lat);
    var rec = el('span', null, 'reconcile ');
    var chip = el('span', 'chip ' + d.reconcile, d.reconcile, 'disc-reconcile');
    rec.appendChild(chip);
    foot.appendChild(rec);
    card.appendChild(foot);
    return card;
  }

  function figure(cls, value, label, name) {
    var f = el('div', cls);
    var b = el('b', null, value, name);
    f.appendChild(b);
    f.appendChild(el('span', null, label));
    return f;
  }

  // sparkline draws the last minute, one stacked bar a second: 201 (green), 409 (amber), 503 (red) and the
  // other answers (grey), scaled to the busiest second.
  function sparkline(series) {
    var w = 60, h = 40;
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('preserveAspectRatio', 'none');
    var peak = 1;
    series.forEach(function (s) { peak = Math.max(peak, s[0]); });
    var x0 = w - series.length;
    series.forEach(function (s, i) {
      var parts = [[s[1], 's201'], [s[2], 's409'], [s[3], 's503'], [Math.max(0, s[0] - s[1] - s[2] - s[3]), 'sother']];
      var y = h;
      parts.forEach(function (p) {
        if (p[0] <= 0) { return; }
        var bh = (p[0] / peak) * (h - 2);
        y -= bh;
        var r = document.createElementNS(SVG, 'rect');
        r.setAttribute('x', String(x0 + i + 0.1));
        r.setAttribute('y', y.toFixed(2));
        r.setAttribute('width', '0.8');
        r.setAttribute('height', bh.toFixed(2));
        r.setAttribute('class', p[1]);
        svg.appendChild(r);
      });
    });
    return svg;
  }

  function drawReconcile() {
    var r = view.reconcile, box = $('reconcile');
    var v = field(box, 'reconcile-result');
    if (!r.ran) {
      v.className = 'verdict';
      v.textContent = r.every_seconds > 0 ? 'first check running' : 'no check yet';
      setField(box, 'reconcile-ran', '—');
      setField(box, 'reconcile-took', '—');
      setField(box, 'reconcile-checked', '—');
      setField(box, 'reconcile-drifting', '—');
      setField(box, 'reconcile-clean', '—');
    } else {
      v.className = 'verdict ' + r.result;
      v.textContent = r.result;
      setField(box, 'reconcile-ran', clock(r.finished_at) + ' (' + r.trigger + ')');
      field(box, 'reconcile-ran').dataset.at = r.finished_at;
      setField(box, 'reconcile-took', seconds(r.took_seconds));
      setField(box, 'reconcile-checked', count(r.checked));
      setField(box, 'reconcile-drifting', count(r.drifting));
      setField(box, 'reconcile-clean', r.last_clean_at ? clock(r.last_clean_at) : 'none yet');
    }
    setField(box, 'reconcile-every', r.every_seconds > 0 ? 'every ' + r.every_seconds + ' s' : 'off');
    setField(box, 'reconcile-summary', r.summary || '');
  }

  function drawWriter() {
    var w = view.writer, box = $('writer');
    setField(box, 'writer-backlog', count(w.backlog));
    setField(box, 'writer-oldest', view.partitions.length ? seconds(w.oldest_wait_seconds) : 'n/a');
    setField(box, 'writer-lag', w.lag_p50_seconds === null ? (w.landed ? '—' : 'idle')
      : pair(w.lag_p50_seconds, w.lag_p99_seconds));
    setField(box, 'writer-dead', count(w.dead_letters));
    var rows = view.partitions.map(function (p) {
      var tr = el('tr', p.dead_letters > 0 ? 'dead' : (p.backlog > 0 ? 'busy' : ''));
      tr.dataset.partition = String(p.partition);
      [String(p.partition), count(p.backlog), seconds(p.oldest_wait_seconds), count(p.dead_letters)].forEach(function (t, i) {
        var td = el('td', null, t, ['partition', 'backlog', 'lag', 'dead-letters'][i]);
        tr.appendChild(td);
      });
      return tr;
    });
    if (rows.length === 0) {
      var tr = el('tr');
      var td = el('td', null, 'orders go to Postgres directly: no partition waits');
      td.colSpan = 4;
      tr.appendChild(td);
      rows = [tr];
    }
    var body = $('partitions');
    body.replaceChildren.apply(body, rows);
  }

  // tick refreshes what moves between polls: countdowns, the reconcile age and the status line.
  function tick() {
    if (view) {
      var now = shopNow();
      document.querySelectorAll('[data-field="countdown"]').forEach(function (c) {
        var card = c.closest('.disc');
        c.textContent = span(Date.parse(card.dataset.startsAt) - now);
      });
      var ran = document.querySelector('[data-field="reconcile-ran"]');
      if (ran && ran.dataset.at && view.reconcile.ran) {
        ran.textContent = clock(view.reconcile.finished_at) + ' · ' + ago(view.reconcile.finished_at) + ' (' + view.reconcile.trigger + ')';
      }
      var age = performance.now() - receivedAt;
      if (failure) {
        setStatus(age > STALE_MS ? 'down' : 'stale', 'not updating: ' + failure);
      } else if (age > STALE_MS) {
        setStatus('stale', 'last update ' + Math.round(age / 1000) + ' s ago');
      } else {
        setStatus('live', 'live · ' + clock(view.now));
      }
    }
  }

  setInterval(tick, 250);
  poll();
})();
