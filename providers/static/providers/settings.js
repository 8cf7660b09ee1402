// Settings > AI providers, progressively enhanced. Without this script every form posts and
// the page comes back to the card with the result at its top.
//  * Verify / Save / Save anyway go to the JSON API in the background: the buttons are disabled,
//    a spinner counts the seconds, the result appears next to the fields (an aria-live region)
//    and the form keeps what was typed.
//  * After a save the card is fetched again and swapped in place (the server renders it, the
//    same markup as without JavaScript): the discovered models and the tier pickers appear
//    without a reload, the result stays at the top of the card.
//  * The model list gets a search box; tier fields warn when a model was not listed.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function payloadOf(form) {
    var prefix = form.dataset.prefix, body = {provider: form.dataset.provider};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name.indexOf(prefix) !== 0 || el.type === "submit") return;
      body[el.name.slice(prefix.length)] = el.value;
    });
    return body;
  }

  function show(box, level, text) {
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "notice " + level;
    p.textContent = text;
    box.appendChild(p);
  }

  function errorText(name, errors) {
    var parts = [];
    Object.keys(errors || {}).forEach(function (field) {
      var label = field === "__all__" ? "" : field.replace(/_/g, " ") + ": ";
      parts.push(label + errors[field].join(" "));
    });
    return name + ": " + (parts.join(" ") || "the request failed.") + " Nothing was changed.";
  }

  // "owned by openai · 128k context": the same words the server renders (ModelInfo.details).
  function details(m) {
    var parts = [];
    if (m.display_name && m.display_name !== m.id) parts.push(m.display_name);
    if (m.owner) parts.push("owned by " + m.owner);
    if (m.context_length) parts.push(contextLabel(m.context_length));
    return parts.join(" · ");
  }

  function contextLabel(n) {
    var units = [["M", 1048576, 1000000], ["k", 1024, 1000]];
    for (var i = 0; i < units.length; i++) {
      var u = units[i];
      if (n >= u[2]) {
        var size = (n % u[2] === 0 || n % u[1]) ? n / u[2] : n / u[1];
        return size.toFixed(1).replace(/\.0$/, "") + u[0] + " context";
      }
    }
    return n + " context";
  }

  // The models a verify reported: listed under the result and offered in the card's datalist,
  // so the default model can be picked from them right away.
  function showModels(form, box, models) {
    if (!models || !models.length) return;
    var list = document.createElement("ul");
    list.className = "model-list";
    list.setAttribute("aria-label", form.dataset.name + " models");
    var datalist = document.getElementById("models-" + form.dataset.provider);
    var known = {};
    if (datalist) Array.prototype.forEach.call(datalist.options, function (o) { known[o.value] = true; });
    models.forEach(function (m) {
      if (typeof m === "string") m = {id: m};
      var li = document.createElement("li"), code = document.createElement("code"), more = details(m);
      code.textContent = m.id; li.appendChild(code);
      if (more) {
        var meta = document.createElement("span");
        meta.className = "model-meta"; meta.textContent = more;
        li.appendChild(document.createTextNode(" ")); li.appendChild(meta);
      }
      list.appendChild(li);
      if (datalist && !known[m.id]) {
        var o = document.createElement("option"); o.value = m.id;
        if (more) o.label = more;
        datalist.appendChild(o);
      }
    });
    box.appendChild(list);
  }

  // The card as the server renders it now (a GET of this page), swapped in for the old one:
  // models, tier pickers and state without a reload. Resolves false when that fails.
  function refreshCard(card, level, text) {
    return fetch(window.location.pathname, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (resp) {
        if (!resp.ok) throw new Error("status " + resp.status);
        return resp.text();
      }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(card.id);
        if (!fresh) throw new Error("no card");
        fresh = document.importNode(fresh, true);
        card.parentNode.replaceChild(fresh, card);
        enhanceCard(fresh);
        show(fresh.querySelector(".card-result"), level, text);
        var empty = document.querySelector(".empty-state");
        if (empty) empty.parentNode.removeChild(empty);
        // The focused button went with the old card: focus the new card's heading instead.
        var heading = fresh.querySelector("h2");
        if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
        return true;
      }).catch(function () { return false; });
  }

  // When the card cannot be fetched again: a link that reloads the page at the card.
  function reloadLink(form, box) {
    var more = document.createElement("a");
    more.href = window.location.pathname + "#provider-" + form.dataset.provider;
    more.textContent = "Reload to choose " + form.dataset.name + " models for the agents";
    more.addEventListener("click", function (e) {
      e.preventDefault(); window.location.hash = "provider-" + form.dataset.provider; window.location.reload();
    });
    box.appendChild(more);
  }

  function setBadge(form, credential) {
    var badge = form.closest(".provider").querySelector("[data-badge]");
    if (!badge || !credential) return;
    var words = {verified: "Verified", failed: "Failed", unverified: "Unverified"};
    badge.textContent = words[credential.status] || credential.status;
    badge.className = "badge badge-" + credential.status;
  }

  function enhanceCredentialForm(form) {
    var box = form.querySelector("[data-form-result]"), progress = form.querySelector("[data-progress]"),
        elapsed = form.querySelector("[data-elapsed]"), buttons = form.querySelectorAll("button[type=submit]"),
        name = form.dataset.name;
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (!submitter || !window.fetch) return;  // old browser: the normal post
      event.preventDefault();
      var verify = submitter.value === "verify", body = payloadOf(form);
      if (submitter.name === "save_unverified") body.save_unverified = true;
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
      form.setAttribute("aria-busy", "true");
      var started = Date.now();
      progress.hidden = false;
      elapsed.textContent = verify ? "Verifying… 0 s" : "Saving… 0 s";
      var timer = setInterval(function () {
        elapsed.textContent = (verify ? "Verifying… " : "Saving… ") + Math.round((Date.now() - started) / 1000) + " s";
      }, 1000);
      box.textContent = "";
      fetch(verify ? form.dataset.verifyApi : form.dataset.saveApi, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken(form)},
        body: JSON.stringify(body)
      }).then(function (resp) {
        return resp.json().then(function (data) { return {status: resp.status, data: data}; });
      }).then(function (r) {
        var d = r.data;
        if (r.status >= 400 && r.status !== 422) {  // 422: configure answered, nothing saved
          show(box, "error", errorText(name, d.errors));
        } else if (verify) {
          show(box, d.ok ? "success" : "error", name + ": " + d.message + " (Nothing was saved.)");
          showModels(form, box, d.model_details || d.models);
        } else if (!d.saved) {
          show(box, "error", name + ": " + d.message + " Nothing was saved; your stored credential is unchanged.");
        } else {
          var level = d.ok ? "success" : "warning",
              text = name + (d.ok ? ": saved. " : ": saved without verification. ") + d.message +
                     (d.ok ? "" : " Agents will not use it until it verifies.");
          show(box, level, text);
          setBadge(form, d.credential);
          // Secrets leave the page once stored; the other fields keep what was typed.
          form.querySelectorAll("input[type=password]").forEach(function (el) { el.value = ""; });
          return refreshCard(form.closest(".provider"), level, text).then(function (swapped) {
            if (!swapped) { showModels(form, box, d.model_details || d.models); reloadLink(form, box); }
          });
        }
      }).catch(function () {
        show(box, "error", name + ": the request did not complete (connection lost). Nothing was changed.");
      }).then(function () {
        clearInterval(timer);
        progress.hidden = true;
        form.removeAttribute("aria-busy");
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      });
    });
  }

  function enhanceModelList(box) {
    var search = box.querySelector("[data-model-search]"), list = box.querySelector("[data-model-list]");
    if (!search || !list) return;
    search.hidden = false;
    search.addEventListener("input", function () {
      var q = search.value.trim().toLowerCase();
      Array.prototype.forEach.call(list.children, function (li) {
        li.hidden = q !== "" && li.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }

  function enhancePreferences(form) {
    var listed = (form.dataset.listed || "").split(" ").filter(Boolean);
    if (!listed.length) return;
    form.querySelectorAll("input[list]").forEach(function (input) {
      var warning = input.parentNode.querySelector("[data-unlisted]");
      function check() {
        var v = input.value.trim();
        warning.textContent = v && listed.indexOf(v) < 0 ? "The provider did not list this model; agents will still try it." : "";
      }
      input.addEventListener("input", check);
      check();
    });
  }

  function enhanceCard(card) {
    card.querySelectorAll("form.credential-form").forEach(enhanceCredentialForm);
    card.querySelectorAll("[data-models]").forEach(enhanceModelList);
    card.querySelectorAll("form.preferences-form").forEach(enhancePreferences);
  }

  document.querySelectorAll("section.provider").forEach(enhanceCard);
})();
