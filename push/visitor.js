/*
 * visitor.js: shows GWE invitations pushed by the gateway (package push).
 * No dependencies; served by the broker at …/notification/visitor.js.
 *
 * Automatic use:
 *   <script src="/notification/visitor.js" data-visit-id="VISIT" data-page-id="PAGE"></script>
 *
 * With visitor tokens (contract §8), the page's server renders a token, and the
 * URL where the page gets a new one when it expires:
 *   <script src="/notification/visitor.js" data-visit-id="VISIT" data-page-id="PAGE"
 *           data-token="TOKEN" data-token-url="/gwe-token?page=PAGE"></script>
 *
 * Manual use (the page calls it, for example once it knows the visitID):
 *   const conn = GWE.connect({
 *     visitID: "VISIT",            // required
 *     pageID: "PAGE",              // optional: only invitations for this page or for every page
 *     base: "/notification",       // optional: where the broker is mounted (default: next to this script)
 *     token: "TOKEN",              // optional: the visitor token the page's server rendered
 *     refreshToken: async () => (await fetch("/gwe-token")).text(),
 *                                  // optional: returns a new token (or a promise of one), called
 *                                  //   when the token expires, and first if there is no token
 *     tokenURL: "/gwe-token",      // optional, instead of refreshToken: where to GET a new token
 *                                  //   (the body is the token), with the page's cookies
 *     withCredentials: false,      // optional: send cookies to a broker on another origin
 *     show(invitation, answer) {}, // optional: your own rendering; call answer("accepted", "chat"),
 *                                  //   answer("rejected") or answer("timeout")
 *     hide(interactionID, reason) {}, // optional: remove your rendering (reasons below)
 *     onEvent(type, data) {},      // optional: every event, for logging (types below)
 *     onStatus(state) {},          // optional: "connected", "reconnecting" or "gone"
 *     contentContainers: ["#offers"], // optional: the containers gpe.appendContent may fill
 *                                  //   (CSS selectors; the first is the default); none: it is off
 *     contentOrigins: ["https://cdn.shop.example"], // optional: origins gpe.appendContent may load
 *                                  //   from besides the page's own
 *   });
 *   conn.close();                  // closes the stream; onStatus hears "gone"
 *   conn.submitted(interactionID); // the visitor submitted the form of an invitation
 *                                  //   this page accepted (GWE.submitted(id) does it on
 *                                  //   the page's last connection)
 *
 * The invitation object is {interactionID, visitID, pageID, channels, language,
 * invitation: {title, message, url}, expiresAt}. The default rendering is a small
 * region in the page corner, announced politely to screen readers, with one
 * button per channel and a decline button; Escape declines.
 *
 * hide is called once per invitation shown, with why it went:
 *   "accepted", "rejected"   this page's visitor answered;
 *   "timeout"                it ran out while shown here (and is reported as such);
 *   otherwise the reason of the broker's cancel event:
 *   "accepted", "rejected", "timeout", "closed"   another page of the visit answered;
 *   "expired"                the broker expired it (a throttled background tab, say);
 *   "cancelled", or the noengage's own reason (such as "agentUnavailable")   it was withdrawn.
 *
 * onEvent(type, data) hears "engage" (data: the invitation), "cancel"
 * (data: {interactionID, reason}) and "notify" (data: the message) as the
 * broker sends them, and "answer"
 * (data: {interactionID, result, channel}) when this page's visitor answers
 * or the invitation runs out here, before the answer is posted.
 *
 * onStatus(state) hears each change of the stream: "connected" once it is
 * open, "reconnecting" while the browser retries a lost connection (it
 * resumes where it left off, after the delay the broker asked for) or the
 * script retries a refused stream or gets a new token, "gone" when the
 * script has given up (the server refused the stream 4 times in a row, for
 * example while shutting down) or the page called close().
 *
 * A refused stream (a 503 from a busy or draining server, say) is tried
 * again after a random wait of 0.5 to 1 s, then 1 to 2 s, then 2 to 4 s,
 * so that pages refused together do not come back together (a page with
 * tokens first gets a new one, at once).
 *
 * Notify messages (contract §9): the gateway's notify API pushes messages
 * {channel, data, page} to the visit's pages. A page handles a channel with
 *   const off = GWE.on("shop.cart", function (data, message) { … });  // off() unregisters
 * fn gets the message's data object and the whole message; handlers run in
 * the order they were registered, and one that throws does not stop the
 * others. onEvent hears "notify" (data: the message). A message reaches a
 * page once, even across reconnects.
 *
 * gpe.appendContent ({url, method, container}) is GWE's predefined channel
 * that loads HTML into the page. The script supports it only when the page
 * names the containers it may fill (contentContainers, or the attribute
 * data-content-containers="#offers #side"): the message's container must be
 * one of them exactly (none: the first). It fetches url, with GET or POST
 * and the page's cookies, only when url and the final URL after redirects
 * are http(s) on the page's own origin or one of contentOrigins
 * (data-content-origins="https://cdn.shop.example"), and appends the
 * answer only if it is text/html. It never inserts HTML carried in a
 * message. What it appends runs with the page's privileges (inline event
 * handlers included): allow only origins and paths whose every answer you
 * control. See the README's notes on the risk.
 *
 * Once show has returned, the script reports the invitation displayed: it
 * posts {interactionID, result: "shown"} to the disposition path, which
 * ends nothing and feeds the operators' funnel (offered, delivered, shown,
 * answered).
 *
 * After "accepted", the broker keeps the visit engaged (strict mode refuses
 * other invitations) while the visitor fills in the registration or chat
 * form, for the broker's RegistrationFormExpiry (120 s by default).
 * submitted(id) tells it the form is done: it posts {interactionID,
 * result: "submitted"} once the acceptance has been posted, and frees the
 * visit for the next invitation. It returns a promise.
 *
 * Tokens: the broker ends a stream whose token expires with a
 * "token-expired" event (onEvent hears it). The script then gets a new
 * token (refreshToken, or tokenURL) and reconnects with it, telling
 * the broker the last invitation it had, so that nothing pending is lost
 * and nothing shown is sent again. A stream the broker refuses (a token
 * that expired while the page slept, say) is retried once the same way.
 * Dispositions carry the token in an Authorization header.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var scriptBase = script && script.src ? script.src.replace(/\/visitor\.js(\?.*)?$/, "") : "/notification";

  // No prototype: a channel named "constructor" or "__proto__" is a channel
  // like any other, not one of Object's properties.
  var LABELS = Object.create(null);
  LABELS.chat = "Chat now";
  LABELS.callback = "Call me back";

  function injectStyle() {
    if (document.getElementById("gwe-style")) return;
    var css =
      ".gwe-invitation{position:fixed;right:1rem;bottom:1rem;max-width:22rem;z-index:2147483000;" +
      "background:#fff;color:#1a1a1a;border:1px solid #888;border-radius:.5rem;padding:1rem;" +
      "box-shadow:0 .25rem 1rem rgba(0,0,0,.2);font:16px/1.4 system-ui,sans-serif}" +
      ".gwe-invitation h2{font-size:1.1rem;margin:0 0 .5rem}.gwe-invitation p{margin:0 0 .75rem}" +
      ".gwe-invitation iframe{width:100%;height:8rem;border:0;margin-bottom:.5rem}" +
      ".gwe-invitation button{font:inherit;margin:.25rem .5rem 0 0;padding:.4rem .8rem;border-radius:.3rem;" +
      "border:1px solid #1f5fbf;background:#1f5fbf;color:#fff;cursor:pointer}" +
      ".gwe-invitation button.gwe-decline{background:#fff;color:#1f5fbf}" +
      ".gwe-invitation button:focus-visible{outline:3px solid #f5a623;outline-offset:2px}";
    var style = document.createElement("style");
    style.id = "gwe-style";
    style.textContent = css;
    document.head.appendChild(style);
  }

  function defaultShow(inv, answer) {
    injectStyle();
    var box = document.createElement("section");
    box.className = "gwe-invitation";
    box.setAttribute("role", "region");
    box.setAttribute("aria-live", "polite");
    box.setAttribute("data-gwe-interaction", inv.interactionID);
    var text = inv.invitation || {};
    var titleID = "gwe-title-" + inv.interactionID;
    box.setAttribute("aria-labelledby", titleID);
    var h = document.createElement("h2");
    h.id = titleID;
    h.textContent = text.title || "Can we help?";
    box.appendChild(h);
    if (text.message) {
      var p = document.createElement("p");
      p.textContent = text.message;
      box.appendChild(p);
    }
    if (text.url && /^https?:\/\//i.test(text.url)) {
      var frame = document.createElement("iframe");
      frame.src = text.url;
      frame.title = h.textContent;
      frame.setAttribute("sandbox", "");
      box.appendChild(frame);
    }
    (inv.channels || []).forEach(function (ch) {
      var b = document.createElement("button");
      b.type = "button";
      b.setAttribute("data-gwe-channel", ch);
      b.textContent = LABELS[ch] || ch;
      b.addEventListener("click", function () { answer("accepted", ch); });
      box.appendChild(b);
    });
    var no = document.createElement("button");
    no.type = "button";
    no.className = "gwe-decline";
    no.setAttribute("data-gwe-decline", "");
    no.textContent = "No thanks";
    no.addEventListener("click", function () { answer("rejected"); });
    box.appendChild(no);
    box.addEventListener("keydown", function (e) {
      if (e.key === "Escape") answer("rejected");
    });
    document.body.appendChild(box);
  }

  function defaultHide(id) {
    var box = document.querySelector('.gwe-invitation[data-gwe-interaction="' + CSS.escape(id) + '"]');
    if (box) box.remove();
  }

  // The handlers of notify channels: channel → list of functions. A Map,
  // so that a channel named "__proto__" or "toString" is a channel like
  // any other.
  var handlers = new Map();

  function on(channel, fn) {
    if (typeof channel !== "string" || typeof fn !== "function") throw new Error("GWE.on: a channel name and a function are required");
    var list = handlers.get(channel);
    if (!list) handlers.set(channel, (list = []));
    list.push(fn);
    return function off() {
      var i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  function own(obj, key) {
    return obj !== null && typeof obj === "object" && Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
  }

  function dispatch(message) {
    var list = handlers.get(message.channel);
    if (!list) return;
    list.slice().forEach(function (fn) {
      try { fn(message.data, message); } catch (err) { setTimeout(function () { throw err; }); }
    });
  }

  // appendContent serves gpe.appendContent for a connection whose page
  // named its containers: see the notes at the top.
  function appendContent(opts, data) {
    var containers = opts.contentContainers || [];
    if (!containers.length) return;
    var name = own(data, "container");
    if (name === undefined || name === null || name === "") name = containers[0];
    if (typeof name !== "string" || containers.indexOf(name) < 0) return;
    var method = String(own(data, "method") || "GET").toUpperCase();
    if (method !== "GET" && method !== "POST") return;
    var allowed = function (u) {
      return (u.protocol === "https:" || u.protocol === "http:") &&
        (u.origin === location.origin || (opts.contentOrigins || []).indexOf(u.origin) >= 0);
    };
    var url;
    try { url = new URL(String(own(data, "url")), location.href); } catch (err) { return; }
    if (!allowed(url)) return;
    fetch(url.href, { method: method, credentials: "same-origin", headers: { Accept: "text/html" } }).then(function (r) {
      var type = (r.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
      if (!r.ok || type !== "text/html" || !allowed(new URL(r.url))) return;
      return r.text().then(function (html) {
        var box = document.querySelector(name);
        if (box) box.insertAdjacentHTML("beforeend", html);
      });
    }).catch(function () {});
  }

  function connect(opts) {
    if (!opts || !opts.visitID) throw new Error("GWE.connect: visitID is required");
    var base = (opts.base || scriptBase).replace(/\/$/, "");
    var visitURL = base + "/" + encodeURIComponent(opts.visitID);
    var show = opts.show || defaultShow;
    var hide = opts.hide || defaultHide;
    var onEvent = opts.onEvent || function () {};
    var onStatus = opts.onStatus || function () {};
    // interactionID → expiry timer, without a prototype, so that
    // "toString" is an interactionID like any other.
    var shown = Object.create(null);
    var state = "";
    var token = opts.token || "";
    var renewable = typeof opts.refreshToken === "function" || !!opts.tokenURL;
    var lastID = "";    // the newest event (invitation or message) this page was sent
    var heard = new Set(); // the IDs of the notify messages this page had
    var es = null;      // the current EventSource
    var closed = false; // the page called close()
    var refused = 0;    // streams refused since one last opened
    var MAX_REFUSALS = 4;
    var wait = 0;       // the delay before the next try to get a token, ms
    var accepted = Object.create(null); // interactionID → the post of its acceptance

    function remove(id, reason) {
      if (!(id in shown)) return false;
      clearTimeout(shown[id]);
      delete shown[id];
      hide(id, reason);
      return true;
    }

    // post sends the visitor's answer. Refused for its token (it expired
    // before the stream's did, or while a new one was on its way), it is
    // sent once more with a new token.
    function post(id, result, channel, retried) {
      var body = JSON.stringify({ interactionID: id, result: result, channel: channel || undefined });
      var headers = { "Content-Type": "application/json" };
      if (token) headers.Authorization = "Bearer " + token;
      return fetch(visitURL + "/disposition", {
        method: "POST",
        headers: headers,
        body: body,
        keepalive: true,
        credentials: opts.withCredentials ? "include" : "same-origin",
      }).then(function (r) {
        if (r.status !== 401 || !renewable || retried) return;
        return newToken().then(function (t) {
          if (typeof t === "string" && t.trim()) token = t.trim();
          return post(id, result, channel, true);
        });
      }).catch(function () {});
    }

    // answered ends an invitation this page shows with its visitor's
    // answer: hidden for that reason, heard by onEvent, then posted.
    function answered(id, result, channel) {
      if (!remove(id, result)) return;
      onEvent("answer", { interactionID: id, result: result, channel: channel });
      var posted = post(id, result, channel);
      if (result === "accepted") accepted[id] = posted;
    }

    // submitted reports the form of an accepted invitation submitted,
    // after its acceptance, so that the broker has it in that order.
    function submitted(id) {
      var after = accepted[id] || Promise.resolve();
      delete accepted[id];
      return after.then(function () { return post(id, "submitted"); });
    }

    function status(s) {
      if (s === state) return;
      state = s;
      onStatus(s);
    }

    // newToken resolves to a fresh token from refreshToken or tokenURL.
    function newToken() {
      if (typeof opts.refreshToken === "function") return Promise.resolve().then(opts.refreshToken);
      return fetch(opts.tokenURL, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
        if (!r.ok) throw new Error("GWE: " + opts.tokenURL + " answered " + r.status);
        return r.text();
      });
    }

    // renew gets a new token and opens a stream with it; while the token
    // cannot be had it tries again, waiting twice as long each time (at
    // most 30 s).
    function renew(first) {
      if (!first) status("reconnecting");
      newToken().then(function (t) {
        if (closed) return;
        if (typeof t !== "string" || !t.trim()) throw new Error("GWE: the token is empty");
        token = t.trim();
        wait = 0;
        open();
      }).catch(function () {
        if (closed) return;
        wait = Math.min(wait ? wait * 2 : 1000, 30000);
        setTimeout(function () { if (!closed) renew(); }, wait);
      });
    }

    // retryLater opens the stream again after a random wait in [b/2, b),
    // b doubling with each refusal from 1 s: jittered, so that the pages
    // a server refused together come back spread out.
    function retryLater() {
      status("reconnecting");
      var b = 1000 * Math.pow(2, refused - 1);
      setTimeout(function () { if (!closed) open(); }, b / 2 + Math.random() * b / 2);
    }

    function open() {
      var query = [];
      if (opts.pageID) query.push("pageID=" + encodeURIComponent(opts.pageID));
      // A new EventSource sends no Last-Event-ID: the query carries it.
      if (lastID) query.push("lastEventId=" + encodeURIComponent(lastID));
      if (token) query.push("token=" + encodeURIComponent(token));
      var source = new EventSource(visitURL + (query.length ? "?" + query.join("&") : ""),
        { withCredentials: !!opts.withCredentials });
      es = source;
      source.addEventListener("open", function () {
        refused = 0;
        status("connected");
      });
      source.addEventListener("error", function () {
        if (source !== es) return;
        if (source.readyState !== EventSource.CLOSED) {
          status("reconnecting"); // EventSource retries by itself
          return;
        }
        // Refused: with a token that expired meanwhile, a new one opens
        // it; otherwise, or refused again, the script tries again later,
        // and gives up after MAX_REFUSALS.
        refused++;
        if (refused >= MAX_REFUSALS) status("gone");
        else if (renewable && refused === 1) renew();
        else retryLater();
      });
      source.addEventListener("token-expired", function () {
        source.close();
        onEvent("token-expired", {});
        if (renewable) renew();
        else status("gone");
      });
      source.addEventListener("engage", function (e) {
        var inv;
        try { inv = JSON.parse(e.data); } catch (err) { return; }
        if (e.lastEventId) lastID = e.lastEventId;
        onEvent("engage", inv);
        if (inv.interactionID in shown) return;
        var left = Date.parse(inv.expiresAt) - Date.now();
        if (!(left > 0)) return;
        shown[inv.interactionID] = setTimeout(function () {
          answered(inv.interactionID, "timeout");
        }, left);
        show(inv, function answer(result, channel) {
          answered(inv.interactionID, result, channel);
        });
        // Tell the broker it is on screen: a report that ends nothing
        // (contract §6.6), unless the visitor answered already.
        if (inv.interactionID in shown) post(inv.interactionID, "shown");
      });
      source.addEventListener("notify", function (e) {
        var message;
        try { message = JSON.parse(e.data); } catch (err) { return; }
        if (e.lastEventId) {
          lastID = e.lastEventId;
          if (heard.has(e.lastEventId)) return;
          heard.add(e.lastEventId);
          if (heard.size > 256) heard.delete(heard.values().next().value);
        }
        if (typeof own(message, "channel") !== "string") return;
        onEvent("notify", message);
        if (message.channel === "gpe.appendContent") appendContent(opts, own(message, "data"));
        dispatch(message);
      });
      source.addEventListener("cancel", function (e) {
        var data;
        try { data = JSON.parse(e.data); } catch (err) { return; }
        onEvent("cancel", data);
        remove(data.interactionID, data.reason);
      });
      // EventSource reconnects by itself after a network error and sends
      // Last-Event-ID, so the broker does not send again what this page
      // already shows.
    }

    if (!token && renewable) renew(true);
    else open();
    last = {
      close: function () {
        closed = true;
        if (es) es.close();
        status("gone");
      },
      submitted: submitted,
      get source() { return es; },
    };
    return last;
  }

  var last = null; // the page's last connection, for GWE.submitted

  window.GWE = {
    connect: connect,
    on: on,
    submitted: function (id) { return last ? last.submitted(id) : Promise.resolve(); },
  };

  if (script && script.dataset && script.dataset.visitId) {
    var start = function () {
      var d = script.dataset;
      var list = function (s) { return s ? s.split(/\s+/).filter(Boolean) : undefined; };
      connect({ visitID: d.visitId, pageID: d.pageId, token: d.token, tokenURL: d.tokenUrl,
        contentContainers: list(d.contentContainers), contentOrigins: list(d.contentOrigins) });
    };
    if (document.body) start();
    else document.addEventListener("DOMContentLoaded", start);
  }
})();
