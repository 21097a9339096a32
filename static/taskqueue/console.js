/* The console's own script (no inline script anywhere: the CSP forbids it).
 *
 * - Live updates: the ws extension keeps the WebSocket open (and reconnects); this file
 *   shows "live / reconnecting", and tells the server which live elements the page
 *   shows (every [data-live] marker) whenever the socket opens or the page changes.
 * - Live updates patch the page in place (idiomorph, vendored): an element the operator
 *   is pressing or focusing is the same element after an update, a ticked box stays
 *   ticked, a value being typed stays; a ticked row whose task changed says so.
 * - "N new — show" above a list whose tab count grew since it was loaded.
 * - Relative times ("12 s ago") count on by themselves, from their <time datetime>.
 * - "Select all" checkboxes, dismissable panels, and a message when a request fails.
 */
(function () {
  "use strict";

  var socket = null;
  var RECONNECT_CODES = [1006, 1011, 1012, 1013];

  function indicator(state, text) {
    var el = document.getElementById("live");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  function watchList() {
    var items = [];
    document.querySelectorAll("[data-live]").forEach(function (el) {
      items.push(el.getAttribute("data-live"));
    });
    return items;
  }

  var lastSent = null;

  function sendWatch(force) {
    if (!socket) return;
    var message = JSON.stringify({ watch: watchList() });
    if (message === lastSent && !force) return;
    lastSent = message;
    socket.send(message);
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    socket = evt.detail.socketWrapper;
    indicator("live", "live");
    sendWatch(true);
  });

  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail.event && evt.detail.event.code;
    indicator("reconnecting", "reconnecting…");
    var wrapper = evt.detail.socketWrapper;
    socket = null;
    // The ws extension retries abnormal closes by itself; a server going away
    // cleanly (1001, a restart) is retried here, after a short pause.
    if (wrapper && RECONNECT_CODES.indexOf(code) < 0 && document.getElementById("live")) {
      setTimeout(function () { wrapper.reconnect(); }, 1000 + Math.random() * 2000);
    }
  });

  document.addEventListener("htmx:wsConnecting", function () {
    if (!socket) indicator("reconnecting", "connecting…");
  });

  // After htmx swapped a listing (a page, a filter, a tab), watch what is shown now.
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (evt.detail && evt.detail.requestConfig) sendWatch();
  });

  document.addEventListener("change", function (evt) {
    var box = evt.target;
    if (box.matches && box.matches('input[type="checkbox"][name="ids"]')) ticked(box);
    if (!box.matches || !box.matches("input[data-select-all]")) return;
    var form = box.closest("form");
    if (!form) return;
    form.querySelectorAll('input[type="checkbox"][name="ids"]').forEach(function (other) {
      other.checked = box.checked;
      ticked(other);
    });
  });

  // -- live updates patch in place ---------------------------------------------------
  //
  // The server sends whole elements (out-of-band, by id). Replacing them would throw
  // away what the operator is doing: a button half pressed (the click never fires), the
  // keyboard focus, a ticked box. So each one is morphed into the element on the page:
  // only what changed is written, and what the operator set is kept.

  var tickedStatus = new WeakMap(); // a ticked box -> its row's status when it was ticked
  // The swaps under way are a pushed update (or the "N new" bar's reload): what the
  // operator set is kept. A response to the operator's own action (a bulk retry, the
  // limits form) is morphed as well, but says what the page now holds: ticks clear,
  // the form empties.
  var fromSocket = false;
  var keepInput = false;

  function statusOf(row) {
    var match = /(?:^|\s)status-(\S+)/.exec(row.className || "");
    return match ? match[1] : "";
  }

  function ticked(box) {
    var row = box.closest("tr");
    if (box.checked && row) tickedStatus.set(box, statusOf(row));
    else tickedStatus.delete(box);
    if (row) sayIfChanged(row);
  }

  function operatorSet(el, name) {
    // A box ticked, an option picked or a value typed by the operator differs from
    // what the page was served with: keep it.
    if (name === "checked") return el.checked !== el.defaultChecked;
    if (name === "selected") return el.selected !== el.defaultSelected;
    if (name === "value" && "defaultValue" in el) return el.value !== el.defaultValue;
    return false;
  }

  function note(row, cls, text) {
    var cell = row.querySelector("td.check") || row.cells[0];
    if (!cell) return;
    var old = cell.querySelector("." + cls);
    if (text === null) {
      if (old) old.remove();
      return;
    }
    if (!old) {
      old = document.createElement("span");
      old.className = "row-note " + cls;
      old.setAttribute("data-keep", "");
      cell.appendChild(old);
    }
    old.textContent = text;
  }

  function sayIfChanged(row) {
    // A ticked row whose task moved on stays ticked, and says what it was when ticked.
    var box = row.querySelector('input[type="checkbox"][name="ids"]');
    var was = box && box.checked ? tickedStatus.get(box) : undefined;
    var now = statusOf(row);
    note(row, "ticked-note", was && now && was !== now ? "was " + was + " when ticked" : null);
  }

  if (window.Idiomorph) {
    Idiomorph.defaults.callbacks.beforeAttributeUpdated = function (name, el) {
      if ((fromSocket || keepInput) && operatorSet(el, name)) return false;
    };
    Idiomorph.defaults.callbacks.beforeNodeRemoved = function (node) {
      if (node.nodeType === 1 && node.hasAttribute("data-keep")) return false; // our notes
    };
  }

  // hx-swap="morph": a response morphed into its target (the "N new" bar's reload).
  // (Our own extension rather than idiomorph's: that one claims every other swap
  // style as inline too, which turns an out-of-band "delete" into a morph.)
  if (window.htmx && window.Idiomorph) {
    htmx.defineExtension("live-morph", {
      isInlineSwap: function (style) { return style === "morph"; },
      handleSwap: function (style, target, fragment) {
        if (style !== "morph") return false;
        var config = { morphStyle: "outerHTML", ignoreActiveValue: keepInput };
        return Idiomorph.morph(target, fragment.children, config);
      },
    });
  }

  document.addEventListener("htmx:wsBeforeMessage", function () {
    fromSocket = true;
    setTimeout(function () { fromSocket = false; }, 0);
  });
  document.addEventListener("htmx:wsAfterMessage", function () { fromSocket = false; });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    keepInput = !!(elt && elt.closest && elt.closest("[data-keep-input]"));
    if (keepInput) setTimeout(function () { keepInput = false; }, 0);
  });
  document.addEventListener("htmx:afterSwap", function () { keepInput = false; });

  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var detail = evt.detail, target = detail.target, fragment = detail.fragment;
    if (!window.Idiomorph || !target) return;
    var incoming = fragment && fragment.nodeType === 11 ? fragment.firstElementChild : null;
    if (incoming && incoming.id === target.id) { // hx-swap-oob="true": the element anew
      detail.shouldSwap = false;
      // (in a push, the focused field's value is the operator's too)
      Idiomorph.morph(target, incoming, { morphStyle: "outerHTML", ignoreActiveValue: fromSocket });
      htmx.process(target); // (re)binds what is new or whose hx- attributes changed
      if (target.matches("tr")) sayIfChanged(target);
      showAges(target);
      return;
    }
    var box = target.matches("tr") && target.querySelector('input[name="ids"]:checked');
    if (box && fromSocket && !(fragment && fragment.firstElementChild)) {
      // hx-swap-oob="delete" pushed for a ticked row: its task is gone; keep the row
      // (and the selection) and say so.
      detail.shouldSwap = false;
      target.classList.add("gone");
      note(target, "ticked-note", "no longer exists");
    }
  });

  // -- "N new — show" ---------------------------------------------------------------
  //
  // A list holds the rows it was loaded with (pushed updates patch those rows only).
  // When the live tab count of what it lists grows past the count it was loaded with,
  // a bar offers the new ones; it reloads the list in place (morphed: the rows, ticks
  // and scroll position stay; the new rows join them).

  function newRowsBar() {
    var bar = document.querySelector("[data-new-rows]");
    if (!bar) return;
    var count = document.querySelector(bar.getAttribute("data-new-rows"));
    var loaded = parseInt(bar.getAttribute("data-loaded"), 10);
    var now = count ? parseInt(count.textContent.replace(/[^0-9]/g, ""), 10) : NaN;
    var added = now - loaded;
    var button = bar.querySelector("button");
    if (isNaN(added) || added <= 0 || !button) {
      bar.hidden = true;
      return;
    }
    button.textContent = added.toLocaleString("en") + " new \u2014 show";
    bar.hidden = false;
  }

  document.addEventListener("htmx:wsAfterMessage", newRowsBar);
  document.addEventListener("htmx:afterSettle", newRowsBar);
  document.addEventListener("DOMContentLoaded", newRowsBar);

  // -- relative times -----------------------------------------------------------------
  //
  // <time datetime="<ISO 8601>" data-ago> shows "12 s ago" (or "in 12 s"): recomputed
  // here every second from the absolute time, in the browser. The absolute time, with
  // its time zone, is the element's title.

  function duration(value) { // as the server's `seconds` filter (templatetags/console.py)
    if (value < 1) return Math.round(value * 1000) + " ms";
    if (value < 10) return value.toFixed(1) + " s";
    if (value < 60) return Math.round(value) + " s";
    var minutes = Math.floor(value / 60), secs = Math.floor(value) % 60;
    if (minutes < 60) return secs ? minutes + " min " + secs + " s" : minutes + " min";
    var hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 24) return minutes ? hours + " h " + minutes + " min" : hours + " h";
    var days = Math.floor(hours / 24);
    hours %= 24;
    return hours ? days + " d " + hours + " h" : days + " d";
  }

  function ago(iso, now) {
    var at = Date.parse(iso);
    if (isNaN(at)) return null;
    var delta = (now - at) / 1000;
    return delta >= 0 ? duration(delta) + " ago" : "in " + duration(-delta);
  }

  function showAges(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-ago]").forEach(function (el) {
      var text = ago(el.getAttribute("datetime"), now);
      if (text !== null && el.textContent !== text) el.textContent = text;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    showAges();
    setInterval(showAges, 1000);
  });
  document.addEventListener("htmx:afterSettle", function (evt) { showAges(evt.target); });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-dismiss]");
    if (!button) return;
    var panel = document.getElementById(button.getAttribute("data-dismiss"));
    if (panel) panel.replaceChildren();
  });

  function problem(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message error";
    p.textContent = text;
    box.replaceChildren(p);
  }

  document.addEventListener("htmx:responseError", function (evt) {
    problem("The server answered " + evt.detail.xhr.status + ": the action may not have completed. Reload the page to see the current state.");
  });
  document.addEventListener("htmx:sendError", function () {
    problem("Could not reach the server. Check the connection and try again.");
  });
})();

/* -- health at a glance: stale data dims while the socket reconnects --------------------
 * (issue 19, kept apart from the block above.) From the moment the live socket closes
 * until the first update after it opens again, <body> carries .live-stale and <main>
 * aria-busy: the numbers shown may be old, and the page says so by dimming them. A page
 * served fresh is not dimmed while its socket first connects. */
(function () {
  "use strict";
  var FALLBACK_MS = 2000; // after a reopen, undim even if no update comes

  function stale(on) {
    document.body.classList.toggle("live-stale", on);
    var main = document.querySelector("main");
    if (main) {
      if (on) main.setAttribute("aria-busy", "true");
      else main.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("htmx:wsClose", function () { stale(true); });
  document.addEventListener("htmx:wsOpen", function () {
    setTimeout(function () { stale(false); }, FALLBACK_MS);
  });
  document.addEventListener("htmx:wsAfterMessage", function () { stale(false); });
})();
