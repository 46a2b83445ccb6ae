// r2d playground: the page's only script. It calls the server's JSON API (/api/info, /api/tokenize,
// /api/decode, /api/generate) and renders the answers. Everything from the user or the server is put in the
// page with textContent (never innerHTML), so typed markup shows as characters.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const FIRST_BATCH = 400;   // rows rendered at once; the rest follow as the view is scrolled
  const BATCH = 1000;
  const DEBOUNCE_MS = 120;
  const URL_LIMIT = 8000;  // an address longer than this keeps no text (servers cap request-line sizes)

  // Read by tests and benchmarks: what is shown and how long it took.
  const state = {
    info: null, flags: [], flagIndex: new Map(), seq: 0, renderedSeq: 0, renderedText: null, data: null, timings: {},
    inputAt: null, controller: null, generating: null,
  };
  window.r2dPlayground = state;

  // ------------------------------------------------------------------------------------------ helpers
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Whitespace and control characters made visible (a space is a middle dot, a newline a return arrow).
  function visible(s) {
    return s.replace(/[\u0000-\u001f\u007f ]/g, (c) => {
      if (c === " ") return "·";
      if (c === "\n") return "↵";
      if (c === "\t") return "→";
      if (c === "\u007f") return "␡";
      return String.fromCharCode(0x2400 + c.charCodeAt(0));
    });
  }

  function plural(k, word) {
    return `${k.toLocaleString("en-US")} ${word}${k === 1 ? "" : "s"}`;
  }

  function hue(id) {
    return `hsl(${Math.round((id * 137.508) % 360)}, 70%, 87%)`;
  }

  function setStatus(node, message, isError) {
    node.textContent = message || "";
    node.classList.toggle("error", Boolean(isError));
  }

  async function postJSON(path, body, signal) {
    const res = await fetch(path, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body), signal,
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = {error: `${res.status} ${res.statusText}`}; }
    return {ok: res.ok, status: res.status, data};
  }

  // Render items into a scrollable container: the first FIRST_BATCH at once, the rest as they scroll in.
  function renderList(container, items, make) {
    if (container._observer) container._observer.disconnect();
    container.replaceChildren();
    let next = 0;
    const sentinel = el("div", "more");
    const append = (n) => {
      const frag = document.createDocumentFragment();
      const end = Math.min(items.length, next + n);
      for (; next < end; next++) make(items[next], next, frag);
      container.insertBefore(frag, sentinel.parentNode === container ? sentinel : null);
      if (next < items.length) {
        sentinel.textContent = `… ${items.length - next} more: scroll to show`;
        if (sentinel.parentNode !== container) container.appendChild(sentinel);
      } else if (sentinel.parentNode === container) {
        sentinel.remove();
      }
    };
    append(FIRST_BATCH);
    if (next < items.length) {
      const obs = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) {
          append(BATCH);
          if (next >= items.length) obs.disconnect();
        }
      }, {root: container, rootMargin: "400px"});
      obs.observe(sentinel);
      container._observer = obs;
    }
  }

  // ------------------------------------------------------------------------------------------ r2d rows
  // Badges for the flags that are on, in the order given (the schema's); colours follow the legend.
  function flagBadges(flags, into) {
    const on = [];
    Object.keys(flags).forEach((name, k) => {
      if (!flags[name]) return;
      on.push(name);
      const known = state.flagIndex.has(name) ? state.flagIndex.get(name) : -1;
      const b = el("span", `flag f${(known >= 0 ? known : k) % 10}`, known >= 0 ? state.flags[known].label : name);
      b.dataset.flag = name;
      into.appendChild(b);
    });
    return on;
  }

  // One chip per word (a step-1 row): its root (BPE pieces split by thin rules), its flags as badges.
  function wordChip(w, index, into) {
    const chip = el("span", "word");
    chip.dataset.index = index;
    chip.dataset.root = w.root;
    chip.dataset.ids = w.ids.join(" ");
    if (w.flags.NoSpace) chip.classList.add("nospace");
    const root = el("span", "root");
    root.style.backgroundColor = hue(w.ids[0]);
    if (w.pieces.length > 1) {
      w.pieces.forEach((p) => root.appendChild(el("span", "piece", visible(p))));
    } else {
      root.textContent = visible(w.root);
    }
    chip.appendChild(root);
    const badges = el("span", "badges");
    const on = flagBadges(w.flags, badges);
    chip.appendChild(badges);
    chip.title = [
      `text: ${JSON.stringify(w.text)}   span ${w.span[0]}–${w.span[1]}`,
      `root: ${JSON.stringify(w.root)}`,
      `ids: ${w.ids.join(" ")}` + (w.pieces.length > 1 ? `   pieces: ${w.pieces.map((p) => JSON.stringify(p)).join(" + ")}` : ""),
      `flags: ${on.length ? on.join(", ") : "none"}`,
    ].join("\n");
    into.appendChild(chip);
    if (w.root.includes("\n")) into.appendChild(el("span", "break"));
  }

  function robertaChip(t, index, into) {
    const chip = el("span", "tok", visible(t.text));
    chip.dataset.id = t.id;
    chip.style.backgroundColor = hue(t.id);
    chip.title = `id: ${t.id}\ntext: ${JSON.stringify(t.text)}   span ${t.span[0]}–${t.span[1]}`;
    into.appendChild(chip);
    if (t.text.includes("\n")) into.appendChild(el("span", "break"));
  }

  function renderLegend() {
    const legend = $("legend");
    legend.replaceChildren();
    state.flags.forEach((f, k) => {
      const b = el("span", `flag f${k % 10}`, f.label);
      b.title = f.name;
      legend.appendChild(b);
      legend.appendChild(document.createTextNode(` ${f.name}  `));
    });
  }

  function rawText(raw) {
    return "{\n" +
      `  "tokenizer": ${JSON.stringify(raw.tokenizer)},\n` +
      `  "flag_names": ${JSON.stringify(raw.flag_names)},\n` +
      `  "input_ids": ${JSON.stringify(raw.input_ids)},\n` +
      `  "tokens": ${JSON.stringify(raw.tokens)},\n` +
      `  "flags": [\n    ${raw.flags.map((r) => JSON.stringify(r)).join(",\n    ")}\n  ]\n}`;
  }

  function renderRaw() {
    if ($("raw-panel").open && state.data) {
      $("raw").value = rawText(state.data.raw);
      $("decoded").textContent = "";
    }
  }

  function renderCounts(c) {
    const fmt = (x) => (x === null || x === undefined ? "–" : x.toLocaleString("en-US"));
    $("c-bytes").textContent = fmt(c.bytes);
    $("c-words").textContent = fmt(c.words);
    $("c-rows").textContent = fmt(c.rows);
    $("c-roberta").textContent = fmt(c.roberta_tokens);
    $("c-rate").textContent = c.rows_per_1000_bytes === null ? "–"
      : `${c.rows_per_1000_bytes} r2d vs ${c.roberta_per_1000_bytes} RoBERTa`;
    const rt = $("c-roundtrip");
    rt.textContent = c.round_trip ? "✓ exact" : "✗ differs";
    rt.className = c.round_trip ? "ok" : "bad";
  }

  function render(data, text) {
    state.data = data;
    renderCounts(data.counts);
    $("r2d-title").textContent = `${data.tokenizer}: ${plural(data.counts.rows, "row")}, ` +
      plural(data.words.length, "root");
    $("roberta-title").textContent = plural(data.roberta.length, "token");
    renderList($("r2d-view"), data.words, wordChip);
    renderList($("roberta-view"), data.roberta, robertaChip);
    renderRaw();
    state.renderedText = text;
  }

  // Returns whether the text fits in the address.
  function keepInURL(text, tokenizer) {
    const u = new URL(window.location.href);
    u.searchParams.set("text", text);
    u.searchParams.set("tokenizer", tokenizer);
    const fits = u.href.length <= URL_LIMIT;
    if (!fits) u.searchParams.delete("text");
    window.history.replaceState(null, "", u);
    return fits;
  }

  // ------------------------------------------------------------------------------------------ tokenize
  let timer = null;
  function schedule() {
    if (state.inputAt === null) state.inputAt = performance.now();
    clearTimeout(timer);
    timer = setTimeout(update, DEBOUNCE_MS);
  }

  async function update() {
    const text = $("text").value;
    const tokenizer = $("tokenizer").value;
    const seq = ++state.seq;
    const inputAt = state.inputAt === null ? performance.now() : state.inputAt;
    state.inputAt = null;
    if (state.controller) state.controller.abort();
    const controller = state.controller = new AbortController();
    document.body.dataset.state = "busy";
    const t0 = performance.now();
    let answer;
    try {
      answer = await postJSON("/api/tokenize", {text, tokenizer}, controller.signal);
    } catch (e) {
      if (e.name !== "AbortError") setStatus($("status"), `cannot reach the server: ${e.message}`, true);
      return;
    }
    if (seq !== state.seq) return;  // a newer request is on its way
    if (!answer.ok) {
      setStatus($("status"), answer.data.error || `error ${answer.status}`, true);
      document.body.dataset.state = "error";
      return;
    }
    const t1 = performance.now();
    render(answer.data, text);
    const t2 = performance.now();
    setStatus($("status"), keepInURL(text, tokenizer) ? "" : "(this text is too long to keep in the address)");
    state.renderedSeq = seq;
    document.body.dataset.state = "ready";
    // painted: after the next frame has been drawn
    requestAnimationFrame(() => setTimeout(() => {
      if (state.renderedSeq !== seq) return;
      const t3 = performance.now();
      state.timings = {request_ms: t1 - t0, render_ms: t2 - t1, painted_ms: t3 - t0, since_input_ms: t3 - inputAt};
      document.body.dataset.painted = String(seq);
    }, 0));
  }

  async function decodeRaw() {
    let doc;
    try {
      doc = JSON.parse($("raw").value);
    } catch (e) {
      setStatus($("decoded"), `not JSON: ${e.message}`, true);
      return;
    }
    if (doc && typeof doc === "object" && !doc.tokenizer) doc.tokenizer = $("tokenizer").value;
    const answer = await postJSON("/api/decode", {
      input_ids: doc.input_ids, flags: doc.flags, tokenizer: doc.tokenizer,
    });
    setStatus($("decoded"), answer.ok ? answer.data.text : answer.data.error, !answer.ok);
  }

  async function copyRaw() {
    const raw = $("raw");
    try {
      await navigator.clipboard.writeText(raw.value);
      setStatus($("decoded"), "copied");
    } catch (e) {
      raw.select();
      setStatus($("decoded"), "selected: press Ctrl+C to copy");
    }
  }

  // ------------------------------------------------------------------------------------------ generation
  function genRowChip(row, into) {
    const chip = el("span", "word");
    chip.dataset.root = row.root;
    chip.dataset.ids = String(row.id);
    if (row.flags && row.flags.NoSpace) chip.classList.add("nospace");
    const root = el("span", "root", visible(row.root));
    root.style.backgroundColor = hue(row.id);
    chip.appendChild(root);
    const badges = el("span", "badges");
    const on = flagBadges(row.flags || {}, badges);
    chip.appendChild(badges);
    chip.title = `root: ${JSON.stringify(row.root)}\nid: ${row.id}\nflags: ${on.length ? on.join(", ") : "none"}`;
    into.appendChild(chip);
  }

  function handleEvent(name, data) {
    if (name === "word") {
      $("gen-text").appendChild(el("span", "new", data.text));
      const group = el("span", "gen-word");
      group.title = JSON.stringify(data.text);
      data.rows.forEach((r) => genRowChip(r, group));
      $("gen-rows").appendChild(group);
      state.generating.words += 1;
      setStatus($("gen-status"), `${plural(state.generating.words, "word")}…`);
    } else if (name === "done") {
      setStatus($("gen-status"), `done: ${plural(data.words, "word")} in ${data.seconds} s (${data.reason})`);
    } else if (name === "error") {
      setStatus($("gen-status"), data.error, true);
    }
  }

  async function generate(ev) {
    ev.preventDefault();
    if (state.generating) return;
    const num = (id) => ($(id).value === "" ? null : Number($(id).value));
    const body = {
      prompt: $("prompt").value, model: $("gen-model").value, temperature: num("temperature"),
      top_p: num("top-p"), top_k: num("top-k"), max_new_tokens: num("max-tokens"), seed: num("seed"),
    };
    if (body.temperature === null) delete body.temperature;
    if (body.max_new_tokens === null) delete body.max_new_tokens;
    const controller = new AbortController();
    state.generating = {controller, words: 0};
    $("gen-start").disabled = true;
    $("gen-stop").disabled = false;
    $("gen-text").replaceChildren(el("span", "prompt", body.prompt));
    $("gen-rows").replaceChildren();
    setStatus($("gen-status"), "starting…");
    try {
      let res;
      for (let attempt = 0; ; attempt++) {  // a just-stopped run may still be closing on the server
        res = await fetch("/api/generate", {
          method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
          signal: controller.signal,
        });
        if (res.status !== 429 || attempt >= 5) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      if (!res.ok) {
        let msg = `error ${res.status}`;
        try { msg = (await res.json()).error || msg; } catch (e) { /* keep the status line */ }
        setStatus($("gen-status"), msg, true);
        return;
      }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = "message", data = "";
          block.split("\n").forEach((line) => {
            if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          });
          handleEvent(name, data ? JSON.parse(data) : {});
        }
      }
    } catch (e) {
      if (e.name === "AbortError") setStatus($("gen-status"), `stopped after ${plural(state.generating.words, "word")}`);
      else setStatus($("gen-status"), `generation failed: ${e.message}`, true);
    } finally {
      state.generating = null;
      $("gen-start").disabled = false;
      $("gen-stop").disabled = true;
    }
  }

  // ------------------------------------------------------------------------------------------ start
  async function start() {
    const res = await fetch("/api/info");
    const info = state.info = await res.json();
    const params = new URLSearchParams(window.location.search);
    const select = $("tokenizer");
    info.tokenizers.forEach((t) => select.appendChild(el("option", "", t.name)));
    const wanted = params.get("tokenizer");
    if (wanted && info.tokenizers.some((t) => t.name === wanted)) select.value = wanted;
    const pickFlags = () => {
      state.flags = info.tokenizers.find((t) => t.name === select.value).flags;
      state.flagIndex = new Map(state.flags.map((f, k) => [f.name, k]));
      renderLegend();
    };
    pickFlags();
    $("text").value = params.has("text") ? params.get("text") : "I enjoyed riding in Australia's parks.";
    $("text").addEventListener("input", schedule);
    select.addEventListener("change", () => { pickFlags(); update(); });
    $("raw-panel").addEventListener("toggle", renderRaw);
    $("copy-raw").addEventListener("click", copyRaw);
    $("decode-raw").addEventListener("click", decodeRaw);
    if (info.models.length) {
      info.models.forEach((m) => $("gen-model").appendChild(el("option", "", m.name)));
      $("max-tokens").max = info.limits.max_new_tokens;
      $("gen-form").hidden = false;
      $("gen-hint").textContent = "Words stream in as the model completes them; each row shows its root and flags.";
      $("gen-form").addEventListener("submit", generate);
      $("gen-stop").addEventListener("click", () => state.generating && state.generating.controller.abort());
    } else {
      $("gen-hint").textContent = info.model_hint;
    }
    await update();
  }

  start().catch((e) => setStatus($("status"), `cannot start: ${e.message}`, true));
})();
