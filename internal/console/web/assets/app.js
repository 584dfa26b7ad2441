// SalesPulse console: one page, hash routes, the JSON API under /api/v1/
// (docs/console.md) and nothing else. Every chart has a table rendered from
// the same rows first, so the numbers stay readable when the chart library
// is missing or a chart throws. Only ids reach this page: rep and team names
// come from the org file (employees), leads are pseudonymised ids.
"use strict";

(function () {
  const API = "api/v1/";
  const NORM_DEFAULT = 147;

  // State the browser tests read: html[data-page], html[data-state]
  // ("loading", "ready", "error") and window.salespulse.
  const root = document.documentElement;
  const sp = (window.salespulse = { charts: [], renders: [], streamed: [], meta: null });

  let meta = null;
  let charts = [];
  let stream = null;
  let renderSeq = 0;

  // ---- small DOM helpers ------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) {
      if (k == null || k === false) continue;
      el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return el;
  }

  function notice(text, kind) {
    return h("div", { class: "notice " + (kind || "info"), role: kind === "error" ? "alert" : "status" }, text);
  }

  // ---- formatting ------------------------------------------------------

  const nf = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
  const num = (v) => (v == null || Number.isNaN(v) ? "—" : nf.format(v));
  const pct = (v) => (v == null ? "—" : nf.format(v * 100) + " %");
  const pctRaw = (v) => (v == null ? "—" : nf.format(v) + " %");
  function dur(s) {
    if (s == null) return "—";
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " m" + (s % 60 ? " " + (s % 60) + " s" : "");
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " m";
    return nf.format(s / 86400) + " d";
  }
  const minutes = (s) => (s == null ? null : Math.round((s / 60) * 10) / 10);
  function when(v) {
    if (!v) return "—";
    const d = new Date(typeof v === "number" ? v * 1000 : v);
    return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function repName(id) {
    if (!id) return "—";
    const r = meta && meta.repsById[id];
    return r && r.name ? r.name + " (" + id + ")" : id;
  }
  function teamName(id) {
    if (!id) return "—";
    const t = meta && meta.teamsById[id];
    return t && t.name ? t.name : id;
  }

  // ---- routing and filters ---------------------------------------------

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const [path, query] = raw.split("?");
    const parts = path.split("/");
    const params = new URLSearchParams(query || "");
    return { page: parts[0] || "overview", arg: decodeURIComponent(parts.slice(1).join("/")), params };
  }

  function filterQuery(params, extra) {
    const q = new URLSearchParams();
    for (const k of ["from", "to", "team"]) if (params.get(k)) q.set(k, params.get(k));
    for (const [k, v] of Object.entries(extra || {})) if (v != null && v !== "") q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  }

  function go(page, arg, params) {
    location.hash = "#/" + page + (arg ? "/" + encodeURIComponent(arg) : "") + filterQuery(params);
  }

  function syncFilters(route) {
    const f = document.getElementById("filters");
    f.from.value = route.params.get("from") || "";
    f.to.value = route.params.get("to") || "";
    f.team.value = route.params.get("team") || "";
    for (const a of document.querySelectorAll("#nav a")) {
      a.classList.toggle("active", a.dataset.page === route.page);
      const arg = a.dataset.page === "lead" ? "lead/" + (route.page === "lead" ? encodeURIComponent(route.arg) : "") : a.dataset.page;
      a.href = "#/" + arg + filterQuery(route.params);
    }
  }

  function setupFilters() {
    const f = document.getElementById("filters");
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      const r = parseHash();
      const p = new URLSearchParams();
      if (f.from.value) p.set("from", f.from.value);
      if (f.to.value) p.set("to", f.to.value);
      if (f.team.value) p.set("team", f.team.value);
      go(r.page, r.arg, p);
    });
    document.getElementById("reset").addEventListener("click", () => {
      const r = parseHash();
      go(r.page, r.arg, new URLSearchParams());
    });
  }

  // ---- API ----------------------------------------------------------------

  class APIError extends Error {
    constructor(status, msg) {
      super(msg);
      this.status = status;
    }
  }

  async function api(path, opts) {
    const res = await fetch(API + path, Object.assign({ headers: { Accept: "application/json" }, credentials: "same-origin" }, opts));
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      const reason = body && body.error ? body.error : res.status + " " + res.statusText;
      throw new APIError(res.status, reason);
    }
    return body;
  }

  async function loadMeta() {
    if (meta) return meta;
    const m = await api("meta");
    m.repsById = {};
    m.teamsById = {};
    for (const t of m.teams || []) {
      m.teamsById[t.id] = t;
      for (const r of t.reps || []) m.repsById[r.id] = Object.assign({ team_id: t.id }, r);
    }
    meta = sp.meta = m;
    const sel = document.getElementById("filters").team;
    for (const t of m.teams || []) sel.append(h("option", { value: t.id }, t.name || t.id));
    document.getElementById("version").textContent = m.version ? "v" + m.version : "";
    if (m.days && m.days.first) {
      document.getElementById("range").textContent = "data " + m.days.first + " … " + m.days.last + " (default: last 28 days)";
    }
    return m;
  }

  // ---- tables and charts --------------------------------------------------

  // table renders rows with columns [{label, value(row), cls?, num?}];
  // rowClass(row) marks rows (provisional, over authority).
  function table(cols, rows, opts) {
    opts = opts || {};
    const cls = (c) => [c.num ? "num" : "", c.wrap ? "wrap" : ""].join(" ").trim() || null;
    const head = h("tr", null, cols.map((c) => h("th", { class: cls(c), title: c.title }, c.label)));
    const body = rows.map((r) =>
      h(
        "tr",
        { class: opts.rowClass ? opts.rowClass(r) : null },
        cols.map((c) => {
          const v = c.value(r);
          return h("td", { class: cls(c) }, v instanceof Node ? v : v == null ? "—" : String(v));
        })
      )
    );
    const t = h("table", { class: "data" }, h("thead", null, head), h("tbody", null, body));
    if (opts.caption) t.prepend(h("caption", null, opts.caption));
    return h("div", { class: "table-wrap" + (rows.length > 15 ? " tall" : "") }, rows.length ? t : h("p", { class: "muted empty" }, opts.empty || "No rows in this range."));
  }

  const provisionalMark = (r) => (r.provisional ? h("span", { class: "badge prov", title: "Provisional: open leads or requests may still change this figure" }, "provisional") : "");

  // chart adds a chart box to parent and draws option into it. The table
  // for the same data is already on the page, so a missing library or a
  // throwing chart only costs the picture.
  function chart(parent, title, option) {
    const box = h("div", { class: "chart", role: "img", "aria-label": title, "data-title": title });
    parent.append(h("figure", { class: "chart-fig" }, h("figcaption", null, title), box));
    if (!window.echarts) {
      box.classList.add("unavailable");
      box.append(h("p", { class: "muted" }, "Chart unavailable: see the table."));
      return null;
    }
    try {
      const c = window.echarts.init(box, null, { renderer: "canvas" });
      c.setOption(
        Object.assign(
          {
            animation: false,
            grid: { left: 56, right: 24, top: 36, bottom: 48, containLabel: true },
            tooltip: { trigger: "axis" },
            legend: { type: "scroll", top: 0 },
          },
          option
        )
      );
      charts.push(c);
      sp.charts = charts;
      return c;
    } catch (e) {
      box.classList.add("unavailable");
      box.replaceChildren(h("p", { class: "muted" }, "Chart failed (" + e.message + "): see the table."));
      console.warn("chart", title, e);
      return null;
    }
  }

  function disposeCharts() {
    for (const c of charts) {
      try {
        c.dispose();
      } catch (e) {
        /* already gone */
      }
    }
    charts = [];
    sp.charts = charts;
  }

  window.addEventListener("resize", () => {
    for (const c of charts) c.resize();
  });

  function section(parent, title, ...kids) {
    const s = h("section", { class: "card" }, h("h2", null, title), kids);
    parent.append(s);
    return s;
  }

  function sortedUnique(xs) {
    return Array.from(new Set(xs)).sort();
  }

  function groupBy(rows, key) {
    const m = new Map();
    for (const r of rows) {
      const k = key(r);
      if (!m.has(k)) m.set(k, []);
      m.get(k).push(r);
    }
    return m;
  }

  const sum = (rows, f) => rows.reduce((a, r) => a + (Number(f(r)) || 0), 0);

  // ---- pages --------------------------------------------------------------

  const pages = {};

  pages.overview = async function (el) {
    const o = await api("overview");
    const tiles = h(
      "div",
      { class: "tiles" },
      tile("Events/s", num(o.events_per_s)),
      tile("Consumer lag", num(o.consumer_lag)),
      tile("Stored rows", num(o.stored_rows)),
      tile("Dead letters", num(sum(o.dead_letters || [], (d) => d.count))),
      tile("Last store", when(o.last_store_at))
    );
    el.append(tiles);
    const pts = (o.series && o.series.events_per_min) || [];
    const s = section(el, "Events per minute, last 60 minutes");
    if (pts.length) {
      chart(s, "Events per minute", {
        xAxis: { type: "time" },
        yAxis: { type: "value", name: "events" },
        series: [{ name: "events/min", type: "line", showSymbol: false, areaStyle: {}, data: pts.map((p) => [p[0] * 1000, p[1]]) }],
      });
    } else {
      s.append(h("p", { class: "muted" }, "No events stored in the last 60 minutes."));
    }
    s.append(table([{ label: "Minute", value: (p) => when(p[0]) }, { label: "Events", num: true, value: (p) => num(p[1]) }], pts.slice().reverse()));
    const dl = o.dead_letters || [];
    const d = section(el, "Dead letters by reason");
    if (dl.length) {
      chart(d, "Dead letters by reason", {
        tooltip: { trigger: "item" },
        xAxis: { type: "category", data: dl.map((x) => x.reason), axisLabel: { rotate: 20 } },
        yAxis: { type: "value" },
        series: [{ name: "dead letters", type: "bar", data: dl.map((x) => x.count) }],
      });
    }
    d.append(table([{ label: "Reason", value: (x) => x.reason }, { label: "Count", num: true, value: (x) => num(x.count) }], dl));
  };

  function tile(label, value) {
    return h("div", { class: "tile" }, h("div", { class: "tile-label" }, label), h("div", { class: "tile-value" }, value));
  }

  pages.response = async function (el, route) {
    const q = filterQuery(route.params);
    const [daily, reps] = await Promise.all([api("kbi/response" + q), api("kbi/response/reps" + q)]);
    const rows = daily.rows || [];
    const days = sortedUnique(rows.map((r) => r.day));
    const teams = sortedUnique(rows.map((r) => r.team_id));
    const byTeamDay = new Map(rows.map((r) => [r.team_id + "|" + r.day, r]));
    const palette = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"];
    const series = (field, f) =>
      teams.map((t, i) => ({
        name: teamName(t) + " " + field,
        type: "line",
        color: palette[i % palette.length],
        connectNulls: false,
        data: days.map((d) => {
          const r = byTeamDay.get(t + "|" + d);
          return r ? f(r) : null;
        }),
      }));
    const legendNote = h("p", { class: "muted" }, "Rows marked ", h("span", { class: "badge prov" }, "provisional"), " still have open leads: their figures can change.");

    const s1 = section(el, "Response time per team and day");
    if (rows.length) {
      chart(s1, "Response time p50/p90 (minutes)", {
        xAxis: { type: "category", data: days },
        yAxis: { type: "value", name: "minutes" },
        series: series("p50", (r) => minutes(r.p50_s)).concat(series("p90", (r) => minutes(r.p90_s)).map((x) => Object.assign(x, { lineStyle: { type: "dashed" } }))),
      });
      chart(s1, "SLA attainment (%)", {
        xAxis: { type: "category", data: days },
        yAxis: { type: "value", name: "%", max: 100 },
        series: series("attainment", (r) => (r.attainment == null ? null : Math.round(r.attainment * 1000) / 10)),
      });
      const perDay = days.map((d) => rows.filter((r) => r.day === d));
      chart(s1, "Answered vs unanswered leads", {
        xAxis: { type: "category", data: days },
        yAxis: { type: "value", name: "leads" },
        series: [
          { name: "answered", type: "bar", stack: "leads", data: perDay.map((rs) => sum(rs, (r) => r.answered)) },
          { name: "unanswered", type: "bar", stack: "leads", data: perDay.map((rs) => sum(rs, (r) => r.unanswered)) },
        ],
      });
    }
    s1.append(legendNote);
    s1.append(
      table(
        [
          { label: "Day", value: (r) => r.day },
          {
            label: "Team",
            value: (r) => h("a", { href: "#/response" + filterQuery(route.params, { team: r.team_id }), title: "Drill down to this team's reps" }, teamName(r.team_id)),
          },
          { label: "Leads", num: true, value: (r) => num(r.leads) },
          { label: "Answered", num: true, value: (r) => num(r.answered) },
          { label: "Unanswered", num: true, value: (r) => num(r.unanswered) },
          { label: "p50", num: true, value: (r) => dur(r.p50_s) },
          { label: "p90", num: true, value: (r) => dur(r.p90_s) },
          { label: "SLA", num: true, value: (r) => dur(r.sla_s) },
          { label: "Within SLA", num: true, value: (r) => num(r.within_sla) },
          { label: "Attainment", num: true, value: (r) => pct(r.attainment) },
          { label: "", value: provisionalMark },
        ],
        rows.slice().sort((a, b) => (a.day < b.day ? 1 : a.day > b.day ? -1 : a.team_id < b.team_id ? -1 : 1)),
        { rowClass: (r) => (r.provisional ? "provisional" : null) }
      )
    );

    const rr = (reps.rows || []).slice().sort((a, b) => (b.p90_s || 0) - (a.p90_s || 0));
    const team = route.params.get("team");
    const s2 = section(el, team ? "Reps of " + teamName(team) : "Per rep (pick a team to narrow)");
    if (rr.length) {
      chart(s2, "Response time per rep (minutes)", {
        xAxis: { type: "category", data: rr.map((r) => r.rep_id), axisLabel: { rotate: 45 } },
        yAxis: { type: "value", name: "minutes" },
        series: [
          { name: "p50", type: "bar", data: rr.map((r) => minutes(r.p50_s)) },
          { name: "p90", type: "bar", data: rr.map((r) => minutes(r.p90_s)) },
        ],
      });
    }
    s2.append(
      table(
        [
          { label: "Rep", value: (r) => repName(r.rep_id) },
          { label: "Team", value: (r) => teamName(r.team_id) },
          { label: "Leads", num: true, value: (r) => num(r.leads) },
          { label: "Answered", num: true, value: (r) => num(r.answered) },
          { label: "Unanswered", num: true, value: (r) => num(r.unanswered) },
          { label: "p50", num: true, value: (r) => dur(r.p50_s) },
          { label: "p90", num: true, value: (r) => dur(r.p90_s) },
          { label: "Within SLA", num: true, value: (r) => num(r.within_sla) },
          { label: "Attainment", num: true, value: (r) => pct(r.attainment) },
          { label: "", value: provisionalMark },
        ],
        rr,
        { rowClass: (r) => (r.provisional ? "provisional" : null) }
      )
    );
  };

  pages.activity = async function (el, route) {
    const a = await api("kbi/activity" + filterQuery(route.params));
    const norm = a.norm || (meta && meta.norm_interactions_per_day) || NORM_DEFAULT;
    const rows = a.rows || [];
    const channels = ["emails", "calls", "meetings", "social", "chats"];
    const perRep = Array.from(groupBy(rows, (r) => r.rep_id), ([rep, rs]) => {
      const o = { rep_id: rep, team_id: rs[0].team_id, days: new Set(rs.map((r) => r.day)).size, interactions: sum(rs, (r) => r.interactions) };
      for (const c of channels) o[c] = sum(rs, (r) => r[c]);
      o.per_day = o.days ? o.interactions / o.days : 0;
      return o;
    }).sort((x, y) => y.per_day - x.per_day);

    const s = section(el, "Interactions per rep and working day, by channel, against the norm of " + norm + "/day");
    if (perRep.length) {
      chart(s, "Interactions per day by channel", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: perRep.map((r) => r.rep_id), axisLabel: { rotate: 45 } },
        yAxis: { type: "value", name: "per day" },
        series: channels
          .map((c, i) => ({
            name: c,
            type: "bar",
            stack: "ch",
            data: perRep.map((r) => (r.days ? Math.round((r[c] / r.days) * 10) / 10 : 0)),
            markLine: i === 0 ? { symbol: "none", label: { formatter: "norm " + norm, position: "insideEndTop" }, lineStyle: { type: "dashed", color: "#c0392b" }, data: [{ yAxis: norm }] } : undefined,
          })),
      });
      const days = sortedUnique(rows.map((r) => r.day));
      chart(s, "Team interactions per day", {
        xAxis: { type: "category", data: days },
        yAxis: { type: "value" },
        series: sortedUnique(rows.map((r) => r.team_id)).map((t) => ({
          name: teamName(t),
          type: "line",
          data: days.map((d) => sum(rows.filter((r) => r.day === d && r.team_id === t), (r) => r.interactions)),
        })),
      });
    }
    s.append(
      table(
        [
          { label: "Rep", value: (r) => repName(r.rep_id) },
          { label: "Team", value: (r) => teamName(r.team_id) },
          { label: "Days", num: true, value: (r) => r.days },
          { label: "Interactions", num: true, value: (r) => num(r.interactions) },
          { label: "Per day", num: true, value: (r) => num(r.per_day) },
          { label: "vs norm", num: true, value: (r) => pct(r.per_day / norm) },
        ].concat(channels.map((c) => ({ label: c[0].toUpperCase() + c.slice(1), num: true, value: (r) => num(r[c]) }))),
        perRep,
        { rowClass: (r) => (r.per_day < norm * 0.8 ? "below" : null) }
      )
    );
  };

  pages.accounts = async function (el, route) {
    const a = await api("kbi/accounts" + filterQuery(route.params));
    const rows = (a.rows || []).slice().sort((x, y) => y.accounts - x.accounts);
    const s = section(el, "Distinct accounts touched per rep");
    if (rows.length) {
      const series = [{ name: "accounts", type: "bar", data: rows.map((r) => r.accounts) }];
      if (rows.some((r) => r.target != null)) series.push({ name: "target", type: "line", step: "middle", data: rows.map((r) => r.target) });
      chart(s, "Accounts per rep", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: rows.map((r) => r.rep_id), axisLabel: { rotate: 45 } },
        yAxis: { type: "value", name: "accounts" },
        series,
      });
    }
    s.append(
      table(
        [
          { label: "Rep", value: (r) => repName(r.rep_id) },
          { label: "Team", value: (r) => teamName(r.team_id) },
          { label: "Accounts", num: true, value: (r) => num(r.accounts) },
          { label: "Target", num: true, title: "The team's accounts target per rep and month (null: none)", value: (r) => num(r.target) },
          { label: "Attainment", num: true, title: "Accounts / target", value: (r) => pct(r.attainment) },
        ],
        rows,
        { rowClass: (r) => (r.attainment != null && r.attainment < 1 ? "below-target" : null) }
      )
    );
  };

  pages.discounts = async function (el, route) {
    const d = await api("kbi/discounts" + filterQuery(route.params));
    const rows = d.rows || [];
    const perRep = Array.from(groupBy(rows, (r) => r.rep_id), ([rep, rs]) => {
      const quotes = sum(rs, (r) => r.quotes);
      const auth = rs.map((r) => r.authority_pct).filter((v) => v != null);
      return {
        rep_id: rep,
        team_id: rs[0].team_id,
        quotes,
        avg: quotes ? sum(rs, (r) => r.discount_avg_pct * r.quotes) / quotes : null,
        max: Math.max(...rs.map((r) => r.discount_max_pct || 0)),
        authority: auth.length ? Math.min(...auth) : null,
        over: sum(rs, (r) => r.over_authority),
      };
    }).sort((x, y) => y.max - x.max);
    const s = section(el, "Discounts against each rep's authority");
    if (!rows.some((r) => r.authority_pct != null)) {
      s.append(notice("No authorization matrix is configured (anomaly.matrix_file): authority is unknown.", "info"));
    }
    if (perRep.length) {
      chart(s, "Discount per rep (%)", {
        xAxis: { type: "category", data: perRep.map((r) => r.rep_id), axisLabel: { rotate: 45 } },
        yAxis: { type: "value", name: "%" },
        series: [
          { name: "average", type: "bar", data: perRep.map((r) => (r.avg == null ? null : Math.round(r.avg * 10) / 10)) },
          { name: "maximum", type: "bar", data: perRep.map((r) => r.max) },
          { name: "authority", type: "line", step: "middle", symbol: "rect", lineStyle: { color: "#c0392b" }, data: perRep.map((r) => r.authority) },
        ],
      });
    }
    s.append(
      table(
        [
          { label: "Rep", value: (r) => repName(r.rep_id) },
          { label: "Team", value: (r) => teamName(r.team_id) },
          { label: "Quotes", num: true, value: (r) => num(r.quotes) },
          { label: "Average", num: true, value: (r) => pctRaw(r.avg) },
          { label: "Maximum", num: true, value: (r) => pctRaw(r.max) },
          { label: "Authority", num: true, value: (r) => pctRaw(r.authority) },
          { label: "Over authority", num: true, value: (r) => num(r.over) },
        ],
        perRep,
        { rowClass: (r) => (r.over > 0 ? "over" : null) }
      )
    );
    const s2 = section(el, "Quotes over authority, by day");
    s2.append(
      table(
        [
          { label: "Day", value: (r) => r.day },
          { label: "Rep", value: (r) => repName(r.rep_id) },
          { label: "Quotes", num: true, value: (r) => num(r.quotes) },
          { label: "Max", num: true, value: (r) => pctRaw(r.discount_max_pct) },
          { label: "Authority", num: true, value: (r) => pctRaw(r.authority_pct) },
          { label: "Over", num: true, value: (r) => num(r.over_authority) },
        ],
        rows.filter((r) => r.over_authority > 0).sort((a, b) => (a.day < b.day ? 1 : -1)),
        { rowClass: () => "over" }
      )
    );
  };

  pages.approvals = async function (el, route) {
    const a = await api("kbi/approvals" + filterQuery(route.params));
    const rows = a.rows || [];
    const days = sortedUnique(rows.map((r) => r.day));
    const perDay = days.map((d) => rows.filter((r) => r.day === d));
    const s = section(el, "Discount approvals, and the share decided within 24 h");
    if (rows.length) {
      chart(s, "Approval outcomes and share decided within 24 h", {
        xAxis: { type: "category", data: days },
        yAxis: [
          { type: "value", name: "requests" },
          { type: "value", name: "% in 24 h", max: 100, position: "right" },
        ],
        series: [
          { name: "approved", type: "bar", stack: "o", data: perDay.map((rs) => sum(rs, (r) => r.approved)) },
          { name: "rejected", type: "bar", stack: "o", data: perDay.map((rs) => sum(rs, (r) => r.rejected)) },
          { name: "expired", type: "bar", stack: "o", data: perDay.map((rs) => sum(rs, (r) => r.expired)) },
          {
            name: "decided within 24 h",
            type: "line",
            yAxisIndex: 1,
            data: perDay.map((rs) => {
              const req = sum(rs, (r) => r.requests);
              return req ? Math.round((sum(rs, (r) => r.decided_within_24h) / req) * 1000) / 10 : null;
            }),
          },
        ],
      });
    }
    s.append(h("p", { class: "muted" }, "Rows marked ", h("span", { class: "badge prov" }, "provisional"), " have requests still undecided."));
    s.append(
      table(
        [
          { label: "Day", value: (r) => r.day },
          { label: "Team", value: (r) => teamName(r.team_id) },
          { label: "Requests", num: true, value: (r) => num(r.requests) },
          { label: "Decided", num: true, value: (r) => num(r.decided) },
          { label: "Approved", num: true, value: (r) => num(r.approved) },
          { label: "Rejected", num: true, value: (r) => num(r.rejected) },
          { label: "Expired", num: true, value: (r) => num(r.expired) },
          { label: "In 24 h", num: true, value: (r) => num(r.decided_within_24h) },
          { label: "Share 24 h", num: true, value: (r) => pct(r.share_24h) },
          { label: "Latency p50", num: true, value: (r) => dur(r.latency_p50_s) },
          { label: "", value: provisionalMark },
        ],
        rows.slice().sort((x, y) => (x.day < y.day ? 1 : x.day > y.day ? -1 : x.team_id < y.team_id ? -1 : 1)),
        { rowClass: (r) => (r.provisional ? "provisional" : null) }
      )
    );
  };

  pages.deals = async function (el, route) {
    const d = await api("kbi/deals" + filterQuery(route.params));
    const rows = d.rows || [];
    const days = sortedUnique(rows.map((r) => r.day));
    const amounts = (rs, field) => {
      const by = groupBy(rs, (r) => r.currency || "?");
      return Array.from(by, ([cur, xs]) => cur + " " + num(sum(xs, (r) => r[field]))).join(", ") || "—";
    };
    const perRep = Array.from(groupBy(rows, (r) => r.rep_id), ([rep, rs]) => {
      const won = sum(rs, (r) => r.won);
      const lost = sum(rs, (r) => r.lost);
      const known = rs.filter((r) => r.cycle_days_avg != null);
      const w = sum(known, (r) => r.won + r.lost);
      return {
        rep_id: rep,
        team_id: rs[0].team_id,
        won,
        lost,
        rate: won + lost ? won / (won + lost) : null,
        won_amount: amounts(rs, "won_amount"),
        lost_amount: amounts(rs, "lost_amount"),
        cycle: w ? sum(known, (r) => r.cycle_days_avg * (r.won + r.lost)) / w : null,
      };
    }).sort((x, y) => y.won - x.won);
    const s = section(el, "Deals won and lost, and sales cycle length");
    if (rows.length) {
      chart(s, "Deals won and lost per day", {
        xAxis: { type: "category", data: days },
        yAxis: { type: "value", name: "deals" },
        series: [
          { name: "won", type: "bar", stack: "d", data: days.map((day) => sum(rows.filter((r) => r.day === day), (r) => r.won)) },
          { name: "lost", type: "bar", stack: "d", data: days.map((day) => sum(rows.filter((r) => r.day === day), (r) => r.lost)) },
        ],
      });
      const withCycle = perRep.filter((r) => r.cycle != null);
      if (withCycle.length) {
        chart(s, "Average cycle length per rep (days)", {
          tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
          xAxis: { type: "category", data: withCycle.map((r) => r.rep_id), axisLabel: { rotate: 45 } },
          yAxis: { type: "value", name: "days" },
          series: [{ name: "cycle days", type: "bar", data: withCycle.map((r) => Math.round(r.cycle * 10) / 10) }],
        });
      }
    }
    s.append(
      table(
        [
          { label: "Rep", value: (r) => repName(r.rep_id) },
          { label: "Team", value: (r) => teamName(r.team_id) },
          { label: "Won", num: true, value: (r) => num(r.won) },
          { label: "Lost", num: true, value: (r) => num(r.lost) },
          { label: "Win rate", num: true, value: (r) => pct(r.rate) },
          { label: "Won amount", num: true, value: (r) => r.won_amount },
          { label: "Lost amount", num: true, value: (r) => r.lost_amount },
          { label: "Cycle (days)", num: true, value: (r) => num(r.cycle) },
        ],
        perRep
      )
    );
  };

  // ---- sales intelligence: forecast accuracy, deal scores, signals --------

  const signed = (v) => (v == null ? "—" : (v > 0 ? "+" : "") + nf.format(v * 100) + " %");

  pages.forecast = async function (el, route) {
    const f = await api("kbi/forecast" + filterQuery(route.params));
    const rows = f.rows || [];
    const teamRows = rows.filter((r) => r.rep_id === "");
    const repRows = rows.filter((r) => r.rep_id !== "");
    // One category in the charts: commit when there is one (the figure
    // a forecast is judged by), else the first.
    const cats = sortedUnique(teamRows.map((r) => r.category));
    const cat = cats.includes("commit") ? "commit" : cats[0];
    const charted = teamRows.filter((r) => r.category === cat && r.accuracy != null);
    const periods = sortedUnique(charted.map((r) => r.period));
    const running = new Set(charted.filter((r) => r.in_progress).map((r) => r.period));
    const axis = periods.map((p) => (running.has(p) ? p + " (in progress)" : p));
    const teams = sortedUnique(charted.map((r) => r.team_id));
    const at = (team, period, field) => {
      const r = charted.find((x) => x.team_id === team && x.period === period);
      return r ? Math.round(r[field] * 1000) / 10 : null;
    };
    const s = section(el, "Forecast accuracy per team and period");
    s.append(h("p", { class: "muted" }, "Accuracy = 1 − |forecast − closed won| / closed won; bias = (forecast − closed won) / closed won. The forecast is the last submission before the period starts."));
    if (rows.some((r) => r.in_progress)) {
      s.append(h("p", { class: "notice warn in-progress-note" }, "Periods marked “in progress” have not ended: their closed-won amount is partial, so their accuracy is far below what it will be and their bias far above."));
    }
    if (charted.length) {
      chart(s, "Accuracy per team (" + cat + ", %)", {
        xAxis: { type: "category", data: axis },
        yAxis: { type: "value", name: "%" },
        series: teams.map((t) => ({ name: teamName(t), type: "line", connectNulls: true, data: periods.map((p) => at(t, p, "accuracy")) })),
      });
      chart(s, "Bias per team (" + cat + ", %; above 0: over-forecast)", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: axis },
        yAxis: { type: "value", name: "%" },
        series: teams.map((t) => ({ name: teamName(t), type: "bar", data: periods.map((p) => at(t, p, "bias")) })),
      });
    }
    const cols = (withRep) =>
      [
        withRep ? { label: "Rep", value: (r) => repName(r.rep_id) } : null,
        { label: "Team", value: (r) => teamName(r.team_id) },
        { label: "Period", value: (r) => (r.in_progress ? h("span", null, r.period + " ", h("span", { class: "badge prov", title: "The period has not ended: closed won is partial" }, "in progress")) : r.period) },
        { label: "Category", value: (r) => r.category },
        { label: "Forecast", num: true, value: (r) => (r.forecast == null ? "—" : r.currency + " " + num(r.forecast)) },
        { label: "Closed won", num: true, value: (r) => r.currency + " " + num(r.closed_won) },
        { label: "Accuracy", num: true, value: (r) => pct(r.accuracy) },
        { label: "Bias", num: true, value: (r) => signed(r.bias) },
        { label: "Previous", num: true, value: (r) => pct(r.prev_accuracy) },
        { label: "Change", num: true, value: (r) => signed(r.accuracy_change) },
      ].filter(Boolean);
    const rowClass = (r) => (r.in_progress ? "provisional" : null);
    s.append(table(cols(false), teamRows, { empty: "No team forecasts for periods in this range.", rowClass }));
    const r = section(el, "Forecast accuracy per rep");
    r.append(table(cols(true), repRows, { empty: "No rep forecasts for periods in this range.", rowClass }));
  };

  pages.scores = async function (el, route) {
    const team = route.params.get("team");
    const d = await api("deals/scores" + filterQuery(new URLSearchParams(team ? { team } : {}), { limit: 100 }));
    const deals = d.deals || [];
    const s = section(el, "Open deals at risk (least likely to close first)");
    s.append(h("p", { class: "muted" }, num(d.total || 0) + " open deals scored. Each score lists its top contributing features: + raises the win probability, − lowers it."));
    if (d.total) {
      const labels = (d.distribution || []).map((_, i) => i * 10 + "–" + (i + 1) * 10 + " %");
      chart(s, "Open deals by win probability", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: labels },
        yAxis: { type: "value", name: "deals" },
        series: [{ name: "open deals", type: "bar", data: d.distribution }],
      });
    }
    s.append(
      table(
        [
          { label: "Opportunity", value: (x) => x.opportunity_id },
          { label: "Account", value: (x) => x.account_id || "—" },
          { label: "Rep", value: (x) => repName(x.rep_id) },
          { label: "Team", value: (x) => teamName(x.team_id) },
          { label: "Win probability", num: true, value: (x) => pct(x.probability) },
          { label: "Reasons", wrap: true, value: (x) => h("ul", { class: "reasons" }, (x.reasons || []).map((t) => h("li", null, t))) },
          { label: "Scored", value: (x) => when(x.scored_at) },
        ],
        deals,
        {
          empty:
            "No open deal is scored. Scores need a deal-risk model (anomaly.deal_risk.model_file; train one with `salespulse score train`) and open opportunities; see docs/scores.md.",
        }
      )
    );
  };

  pages.signals = async function (el, route) {
    const d = await api("signals" + filterQuery(route.params, { limit: 100 }));
    const tasks = d.tasks || [];
    const s = section(el, "Market-signal tasks (newest first)");
    s.append(
      h("div", { class: "tiles" }, tile("Tasks in range", num(d.total || 0)), tile("Unmatched signals", num(d.unmatched || 0))),
      h("p", { class: "muted" }, "A signal about an account (executive change, funding round, hiring surge, news) becomes a task for the account's owner. Unmatched signals name no known account yet and are kept for later matching.")
    );
    if (tasks.length) {
      const byKind = groupBy(tasks, (t) => t.kind || "?");
      const kinds = Array.from(byKind.keys()).sort();
      chart(s, "Tasks by kind (listed tasks)", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: kinds },
        yAxis: { type: "value", name: "tasks" },
        series: [{ name: "tasks", type: "bar", data: kinds.map((k) => byKind.get(k).length) }],
      });
    }
    s.append(
      table(
        [
          { label: "At", value: (t) => when(t.at) },
          { label: "Account", value: (t) => t.account_id || "—" },
          { label: "Kind", value: (t) => t.kind },
          { label: "Source", value: (t) => t.source || "—" },
          { label: "Rep", value: (t) => (t.rep_id ? repName(t.rep_id) : "—") },
          { label: "Team", value: (t) => teamName(t.team_id) },
          { label: "Summary", wrap: true, value: (t) => t.summary },
          { label: "Link", value: (t) => (/^https?:\/\//.test(t.url || "") ? h("a", { href: t.url, rel: "noopener noreferrer", target: "_blank" }, "source") : "—") },
        ],
        tasks,
        { empty: "No market-signal tasks in this range." }
      )
    );
  };

  // ---- alerts: the table, then live rows over server-sent events ----------

  const ACKABLE = /^lead_response_sla/;

  pages.alerts = async function (el, route) {
    const team = route.params.get("team");
    const list = await api("alerts" + filterQuery(new URLSearchParams(team ? { team } : {}), { limit: 100 }));
    const alerts = list.alerts || [];
    const byId = new Map(alerts.map((a) => [a.id, a]));

    const status = h("span", { class: "live", "data-live": "connecting" }, "connecting…");
    const s = section(el, "Alerts (newest first)", h("p", null, "Live feed: ", status));
    if (meta && meta.ack) {
      const who = h("select", { id: "ack-by", onchange: (e) => localStorage.setItem("salespulse.ackBy", e.target.value) }, h("option", { value: "" }, "(anonymous: api)"));
      for (const t of meta.teams || []) for (const r of t.reps || []) who.append(h("option", { value: r.id }, repName(r.id)));
      who.value = localStorage.getItem("salespulse.ackBy") || "";
      s.append(h("p", null, h("label", null, "Acknowledge as ", who)));
    }
    const chartBox = h("div");
    s.append(chartBox);
    const cols = [
      { label: "At", value: (a) => when(a.at) },
      { label: "Rule", value: (a) => a.rule },
      { label: "Severity", value: (a) => h("span", { class: "sev sev-" + a.severity }, a.severity) },
      { label: "State", value: (a) => a.state + (a.acknowledged ? " · acknowledged" : "") },
      // Before the long columns, so the button never scrolls out of view.
      { label: "", value: (a) => ackButton(a) },
      { label: "Team", value: (a) => teamName(a.team_id) },
      { label: "Rep", value: (a) => (a.rep_id ? repName(a.rep_id) : "—") },
      { label: "Lead", value: (a) => (a.lead_id ? h("a", { href: "#/lead/" + encodeURIComponent(a.lead_id) }, a.lead_id) : "—") },
      { label: "Summary", wrap: true, value: (a) => a.summary },
    ];
    const tableBox = h("div");
    s.append(tableBox);

    const draw = () => {
      const rows = Array.from(byId.values()).sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0));
      tableBox.replaceChildren(table(cols, rows, { rowClass: (a) => "alert-row state-" + a.state + (a.fresh ? " fresh" : "") }));
      for (const tr of tableBox.querySelectorAll("tbody tr")) {
        const i = Array.prototype.indexOf.call(tr.parentNode.children, tr);
        tr.dataset.alertId = rows[i].id;
      }
      disposeCharts();
      chartBox.replaceChildren();
      const byRule = groupBy(rows, (a) => a.rule);
      if (rows.length) {
        const rules = Array.from(byRule.keys()).sort();
        const sevs = sortedUnique(rows.map((a) => a.severity));
        chart(chartBox, "Alerts by rule and severity", {
          tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
          xAxis: { type: "category", data: rules, axisLabel: { rotate: 20 } },
          yAxis: { type: "value" },
          series: sevs.map((sv) => ({ name: sv, type: "bar", stack: "s", data: rules.map((r) => byRule.get(r).filter((a) => a.severity === sv).length) })),
        });
      }
    };

    function ackButton(a) {
      if (!(meta && meta.ack) || !ACKABLE.test(a.rule) || a.state !== "firing" || a.acknowledged) return "";
      return h(
        "button",
        {
          class: "ack",
          type: "button",
          onclick: async (e) => {
            const b = e.target;
            b.disabled = true;
            b.textContent = "Acknowledging…";
            const body = { lead_id: a.lead_id || undefined };
            const by = localStorage.getItem("salespulse.ackBy");
            if (by) body.by = by;
            try {
              await api("alerts/" + encodeURIComponent(a.id) + "/ack", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) });
              b.textContent = "Acknowledged (pending)";
              b.title = "Accepted: the row updates when the pipeline re-emits the alert";
            } catch (err) {
              b.disabled = false;
              b.textContent = "Acknowledge";
              b.parentNode.append(h("span", { class: "error-inline" }, " " + err.message));
            }
          },
        },
        "Acknowledge"
      );
    }

    draw();
    if (stream) stream.close();
    if (!window.EventSource) {
      status.textContent = "not supported by this browser";
      return;
    }
    // The contract gives the stream no parameters: the team filter is
    // applied here.
    stream = new EventSource(API + "alerts/stream");
    sp.stream = stream;
    stream.onopen = () => {
      status.textContent = "live";
      status.dataset.live = "open";
    };
    stream.onerror = () => {
      // EventSource reconnects by itself; say so rather than fail the page.
      status.textContent = "reconnecting…";
      status.dataset.live = "reconnecting";
    };
    stream.addEventListener("alert", (ev) => {
      let a;
      try {
        a = JSON.parse(ev.data);
      } catch (e) {
        console.warn("alert stream: bad event", e);
        return;
      }
      if (team && a.team_id && a.team_id !== team) return;
      a.fresh = true;
      byId.set(a.id, a);
      sp.lastAlert = a;
      sp.streamed.push(a);
      draw();
    });
  };

  // ---- lead journey -------------------------------------------------------

  pages.lead = async function (el, route) {
    const form = h(
      "form",
      { class: "inline", onsubmit: (e) => { e.preventDefault(); const v = e.target.lead.value.trim(); if (v) go("lead", v, route.params); } },
      h("label", null, "Lead id ", h("input", { name: "lead", value: route.arg || "", size: 40, placeholder: "pseudonymised lead id" })),
      h("button", { type: "submit" }, "Show journey")
    );
    el.append(section(el, "Lead journey", form));
    if (!route.arg) {
      el.append(notice("Enter a lead id, or follow one from the alert feed.", "info"));
      return;
    }
    let j;
    try {
      j = await api("leads/" + encodeURIComponent(route.arg) + "/journey");
    } catch (e) {
      if (e.status === 404) {
        el.append(notice("No events for lead " + route.arg + ".", "info"));
        return;
      }
      throw e;
    }
    const evs = j.events || [];
    const s = section(el, "Touches of lead " + j.lead_id + " across systems");
    if (evs.length) {
      const chans = sortedUnique(evs.map((e) => e.channel || e.source || "?"));
      chart(s, "Timeline", {
        tooltip: {
          trigger: "item",
          formatter: (p) => when(p.value[0] / 1000) + "<br>" + p.value[2] + " · " + p.value[3] + (p.value[4] ? " · " + p.value[4] : ""),
        },
        xAxis: { type: "time" },
        yAxis: { type: "category", data: chans },
        series: [
          {
            name: "events",
            type: "scatter",
            symbolSize: 12,
            data: evs.map((e) => [Date.parse(e.at), e.channel || e.source || "?", e.type, e.source, e.rep_id || ""]),
          },
        ],
        legend: { show: false },
      });
    }
    const first = evs.length ? Date.parse(evs[0].at) : 0;
    s.append(
      table(
        [
          { label: "At", value: (e) => when(e.at) },
          { label: "After", num: true, value: (e) => dur((Date.parse(e.at) - first) / 1000) },
          { label: "Type", value: (e) => e.type },
          { label: "Channel", value: (e) => e.channel },
          { label: "Source", value: (e) => e.source },
          { label: "Rep", value: (e) => repName(e.rep_id) },
          { label: "Team", value: (e) => teamName(e.team_id) },
          { label: "Event", value: (e) => h("code", null, e.event_id) },
        ],
        evs
      )
    );
  };

  // ---- render loop --------------------------------------------------------

  async function render() {
    const seq = ++renderSeq;
    const t0 = performance.now();
    const route = parseHash();
    const page = pages[route.page] ? route.page : "overview";
    if (stream && page !== "alerts") {
      stream.close();
      stream = null;
    }
    root.dataset.page = page;
    root.dataset.state = "loading";
    syncFilters(route);
    disposeCharts();
    const el = document.getElementById("page");
    const fresh = h("div", { class: "page page-" + page });
    el.replaceChildren(fresh);
    try {
      await loadMeta();
      if (seq !== renderSeq) return;
      await pages[page](fresh, route);
      if (seq !== renderSeq) return;
      root.dataset.state = "ready";
    } catch (e) {
      if (seq !== renderSeq) return;
      fresh.append(notice("Could not load this page: " + e.message, "error"));
      root.dataset.state = "error";
      console.warn("render", page, e);
    }
    const ms = performance.now() - t0;
    sp.renders.push({ page, ms, state: root.dataset.state });
  }

  function chartNotice() {
    if (window.echarts) return;
    document.getElementById("notices").append(
      notice("Charts are unavailable (the chart library assets/vendor/echarts.min.js did not load; run scripts/fetch-echarts.sh and rebuild). Every table below shows the full data.", "warn")
    );
    root.dataset.charts = "unavailable";
  }

  setupFilters();
  chartNotice();
  window.addEventListener("hashchange", render);
  if (!location.hash) history.replaceState(null, "", "#/overview");
  render();
})();
