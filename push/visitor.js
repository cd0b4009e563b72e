/*
 * visitor.js: shows GWE invitations pushed by the gateway (package push).
 * No dependencies; served by the broker at …/notification/visitor.js.
 *
 * Automatic use:
 *   <script src="/notification/visitor.js" data-visit-id="VISIT" data-page-id="PAGE"></script>
 *
 * Manual use (the page calls it, for example once it knows the visitID):
 *   const conn = GWE.connect({
 *     visitID: "VISIT",            // required
 *     pageID: "PAGE",              // optional: only invitations for this page or for every page
 *     base: "/notification",       // optional: where the broker is mounted (default: next to this script)
 *     show(invitation, answer) {}, // optional: your own rendering; call answer("accepted", "chat"),
 *                                  //   answer("rejected") or answer("timeout")
 *     hide(interactionID, reason) {}, // optional: remove your rendering (reasons below)
 *     onEvent(type, data) {},      // optional: every event, for logging (types below)
 *     onStatus(state) {},          // optional: "connected", "reconnecting" or "gone"
 *   });
 *   conn.close();                  // closes the stream; onStatus hears "gone"
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
 * onEvent(type, data) hears "engage" (data: the invitation) and "cancel"
 * (data: {interactionID, reason}) as the broker sends them, and "answer"
 * (data: {interactionID, result, channel}) when this page's visitor answers
 * or the invitation runs out here, before the answer is posted.
 *
 * onStatus(state) hears each change of the stream: "connected" once it is
 * open, "reconnecting" while the browser retries a lost connection (it
 * resumes where it left off), "gone" when the browser has given up (the
 * server refused the stream, for example while shutting down) or the page
 * called close().
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var scriptBase = script && script.src ? script.src.replace(/\/visitor\.js(\?.*)?$/, "") : "/notification";

  var LABELS = { chat: "Chat now", callback: "Call me back" };

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

    function remove(id, reason) {
      if (!(id in shown)) return false;
      clearTimeout(shown[id]);
      delete shown[id];
      hide(id, reason);
      return true;
    }

    function post(id, result, channel) {
      var body = JSON.stringify({ interactionID: id, result: result, channel: channel || undefined });
      return fetch(visitURL + "/disposition", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: body,
        keepalive: true,
        credentials: "same-origin",
      }).catch(function () {});
    }

    // answered ends an invitation this page shows with its visitor's
    // answer: hidden for that reason, heard by onEvent, then posted.
    function answered(id, result, channel) {
      if (!remove(id, result)) return;
      onEvent("answer", { interactionID: id, result: result, channel: channel });
      post(id, result, channel);
    }

    function status(s) {
      if (s === state) return;
      state = s;
      onStatus(s);
    }

    var url = visitURL + (opts.pageID ? "?pageID=" + encodeURIComponent(opts.pageID) : "");
    var es = new EventSource(url);
    es.addEventListener("open", function () { status("connected"); });
    es.addEventListener("error", function () {
      status(es.readyState === EventSource.CLOSED ? "gone" : "reconnecting");
    });
    es.addEventListener("engage", function (e) {
      var inv;
      try { inv = JSON.parse(e.data); } catch (err) { return; }
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
    });
    es.addEventListener("cancel", function (e) {
      var data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      onEvent("cancel", data);
      remove(data.interactionID, data.reason);
    });
    // EventSource reconnects by itself and sends Last-Event-ID, so the
    // broker does not send again what this page already shows.
    return {
      close: function () { es.close(); status("gone"); },
      source: es,
    };
  }

  window.GWE = { connect: connect };

  if (script && script.dataset && script.dataset.visitId) {
    var start = function () {
      connect({ visitID: script.dataset.visitId, pageID: script.dataset.pageId });
    };
    if (document.body) start();
    else document.addEventListener("DOMContentLoaded", start);
  }
})();
