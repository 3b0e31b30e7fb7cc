// Progressive enhancement of the form (/submit): while the resident types, list the answers to
// similar published items under the text box, so they may find their answer before sending.
// The form works the same without this file: it then shows the list on a page before sending.
(function () {
  "use strict";
  var form = document.querySelector("form[data-similar]");
  if (!form || !window.fetch || !window.URLSearchParams) return;
  var text = form.querySelector("#text");
  var box = document.getElementById("similar-live");
  var status = document.getElementById("similar-status");
  var token = form.querySelector("input[name=csrf_token]");
  if (!text || !box || !status || !token) return;
  var timer = null;
  var last = "";
  var seq = 0;

  function el(name, cls, content) {
    var e = document.createElement(name);
    if (cls) e.className = cls;
    if (content) e.textContent = content;
    return e;
  }

  function render(items) {
    box.textContent = "";
    if (!items.length) {
      box.hidden = true;
      status.textContent = "";
      return;
    }
    var h = el("h2", "", "似た内容の投書と回答（" + items.length + "件）");
    h.id = "similar-live-h";
    var ul = el("ul", "similar-live-list");
    items.forEach(function (it) {
      var li = el("li");
      var a = el("a", "", it.summary + "（新しいタブで開きます）");
      a.href = it.url;
      a.target = "_blank";
      a.rel = "noopener";
      li.appendChild(a);
      li.appendChild(el("p", "sub", it.section_name + "・" + it.published_date + "掲載"));
      li.appendChild(el("p", "answer", it.answer));
      ul.appendChild(li);
    });
    box.appendChild(h);
    box.appendChild(el("p", "hint", "送信する前に、知りたいことの答えがないかご確認ください。"));
    box.appendChild(ul);
    box.hidden = false;
    // The resident has seen the list here: the server need not show it again on a second page.
    var seen = form.querySelector("input[name=similar_seen]");
    if (!seen) {
      seen = el("input");
      seen.type = "hidden";
      seen.name = "similar_seen";
      form.appendChild(seen);
    }
    seen.value = "1";
    status.textContent = "似た内容の投書への回答が" + items.length + "件あります。入力欄の下に表示しています。";
  }

  function lookup() {
    var value = text.value.trim();
    if (value.length < 8 || value === last) return;
    last = value;
    var mine = ++seq;
    var body = new URLSearchParams();
    body.set("csrf_token", token.value);
    body.set("text", value);
    fetch("/submit/similar.json", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (data) { if (mine === seq) render(data.items || []); })
      .catch(function () { /* the list is a help, never a requirement */ });
  }

  text.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(lookup, 700);
  });
})();
