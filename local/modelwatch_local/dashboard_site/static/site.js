// The local dashboard site's page: draws a dashboard's panels (Plotly.js) from the JSON the site's
// server evaluates against Prometheus, or from the data a snapshot embeds. After drawing, each panel
// element carries data-state="drawn|empty|error" and data-points="<n>".
"use strict";
(function () {
  const model = JSON.parse(document.getElementById("page-model").textContent);
  const board = model.dashboard;
  const snapshot = model.snapshot || null;
  const COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff9830", "#f2495c", "#5794f2", "#b877d9", "#fade2a", "#c4162a", "#96d98d"];
  const params = new URLSearchParams(window.location.search);
  const state = {
    from: params.get("from") || board.time_from,
    to: params.get("to") || board.time_to,
    refresh: params.has("refresh") ? params.get("refresh") : board.refresh,
    vars: {},
  };
  for (const v of board.variables) {
    const wanted = params.getAll("var-" + v.name);
    if (wanted.length) state.vars[v.name] = wanted;
  }
  let timer = null;
  let generation = 0;

  // ---- units (Grafana's unit ids used by the dashboards) ----
  const NAMED = { green: "#73bf69", red: "#f2495c", yellow: "#fade2a", orange: "#ff9830", blue: "#5794f2", purple: "#b877d9" };
  function color(name) { return NAMED[name] || name; }
  function number(v, digits) {
    if (v === 0) return "0";
    const abs = Math.abs(v);
    if (digits !== undefined && digits !== null) return v.toFixed(digits);
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    if (abs >= 1000) return Math.round(v).toLocaleString("en-US");
    if (abs >= 100) return v.toFixed(0);
    if (abs >= 10) return v.toFixed(1);
    if (abs >= 1) return v.toFixed(2);
    return Number(v.toPrecision(3)).toString();
  }
  function seconds(v, digits) {
    const abs = Math.abs(v);
    if (abs === 0) return "0 s";
    if (abs < 1e-3) return number(v * 1e6, digits) + " µs";
    if (abs < 1) return number(v * 1e3, digits) + " ms";
    if (abs < 60) return number(v, digits) + " s";
    if (abs < 3600) return number(v / 60, digits) + " min";
    if (abs < 86400) return number(v / 3600, digits) + " h";
    return number(v / 86400, digits) + " day";
  }
  function short(v, digits) {
    const abs = Math.abs(v);
    for (const [size, suffix] of [[1e12, " T"], [1e9, " B"], [1e6, " M"], [1e3, " K"]]) {
      if (abs >= size) return number(v / size, digits) + suffix;
    }
    return number(v, digits);
  }
  function format(v, unit, digits) {
    if (v === null || v === undefined) return "—";
    switch (unit) {
      case "percentunit": return number(v * 100, digits) + "%";
      case "percent": return number(v, digits) + "%";
      case "s": return seconds(v, digits);
      case "ms": return seconds(v / 1000, digits);
      case "reqps": return number(v, digits) + " req/s";
      case "ops": return number(v, digits) + " ops/s";
      case "short": return short(v, digits);
      case "bool_yes_no": return v ? "Yes" : "No";
      case "dateTimeAsIso": return new Date(v).toISOString().replace("T", " ").slice(0, 19);
      default: return number(v, digits);
    }
  }
  function shown(panel, v) {
    if (v !== null && v !== undefined && Object.prototype.hasOwnProperty.call(panel.mappings, String(v))) {
      return panel.mappings[String(v)].text;
    }
    return format(v, panel.unit, panel.decimals);
  }
  function thresholdColor(panel, v, fallback) {
    const mapped = v === null || v === undefined ? null : panel.mappings[String(v)];
    if (mapped && mapped.color) return color(mapped.color);
    let found = fallback;
    for (const step of panel.thresholds) {
      if (step.value === null || (v !== null && v >= step.value)) found = color(step.color);
    }
    return found;
  }
  // An axis for a unit: Plotly formats the ticks, values are scaled where the unit asks for it.
  function axis(unit, values) {
    const finite = values.filter((v) => v !== null);
    const top = finite.length ? Math.max(...finite.map(Math.abs)) : 0;
    if (unit === "percentunit") return { scale: 1, layout: { tickformat: top < 0.05 ? ".1%" : ".0%" } };
    if (unit === "s" || unit === "ms") {
      const inSeconds = unit === "ms" ? top / 1000 : top;
      const base = unit === "ms" ? 1e-3 : 1;
      if (inSeconds < 1) return { scale: base * 1e3, layout: { ticksuffix: " ms" } };
      return { scale: base, layout: { ticksuffix: " s" } };
    }
    if (unit === "reqps") return { scale: 1, layout: { ticksuffix: " req/s" } };
    if (unit === "ops") return { scale: 1, layout: { ticksuffix: " ops/s" } };
    if (unit === "short") return { scale: 1, layout: { tickformat: "~s" } };
    return { scale: 1, layout: {} };
  }
  function baseLayout() {
    return {
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: "#ccccdc", size: 11 },
      margin: { l: 56, r: 12, t: 6, b: 24 },
      xaxis: { gridcolor: "#2c3235", zeroline: false, automargin: true },
      yaxis: { gridcolor: "#2c3235", zeroline: false, automargin: true },
      showlegend: true,
      legend: { orientation: "h", x: 0, y: -0.12, yanchor: "top", font: { size: 11 } },
      hovermode: "x unified",
    };
  }
  const CONFIG = { displaylogo: false, responsive: true, displayModeBar: false };

  // ---- drawing ----
  function element(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function finish(panelEl, data, points) {
    panelEl.dataset.points = String(points);
    panelEl.dataset.state = points > 0 ? "drawn" : "empty";
    if (data.queries) panelEl.dataset.queries = JSON.stringify(data.queries);
  }
  function fail(panelEl, message) {
    const body = panelEl.querySelector(".body");
    body.replaceChildren(element("div", "error", message));
    panelEl.dataset.points = "0";
    panelEl.dataset.state = "error";
  }
  function chart(body) {
    const div = element("div", "chart");
    body.replaceChildren(div);
    return div;
  }
  function yRange(panel) {
    if (panel.log_scale || (panel.min === null && panel.max === null)) return {};
    return { range: [panel.min, panel.max], autorange: panel.min === null || panel.max === null ? (panel.min === null ? "min" : "max") : false };
  }
  async function drawTimeseries(panel, data, panelEl) {
    const body = panelEl.querySelector(".body");
    const values = data.series.flatMap((s) => s.y);
    const ax = axis(panel.unit, values);
    // Points as Grafana's showPoints: "always", or "auto" (shown where the series is sparse).
    const sparse = (s) => s.y.filter((v) => v !== null).length < 20;
    const traces = data.series.map((s, i) => ({
      type: "scatter", mode: panel.show_points || sparse(s) ? "lines+markers" : "lines", name: s.name || board.title,
      cliponaxis: false,
      x: s.x.map((t) => new Date(t)), y: s.y.map((v) => (v === null ? null : v * ax.scale)),
      text: s.y.map((v) => shown(panel, v)), hovertemplate: "%{text}",
      connectgaps: true, line: { width: 1.5, color: COLORS[i % COLORS.length] }, marker: { size: 6 },
    }));
    const layout = baseLayout();
    layout.yaxis = Object.assign(layout.yaxis, ax.layout, panel.log_scale ? { type: "log", dtick: 1, exponentformat: "power" } : {});
    if (!panel.log_scale && values.every((v) => v === null || v >= 0)) layout.yaxis.rangemode = "tozero";
    if (panel.min !== null || panel.max !== null) {
      if (!panel.log_scale) {
        const scaled = [panel.min, panel.max].map((v) => (v === null ? null : v * ax.scale));
        if (scaled[0] !== null && scaled[1] !== null) layout.yaxis.range = scaled;
        else layout.yaxis.autorangeoptions = scaled[0] !== null ? { minallowed: scaled[0] } : { maxallowed: scaled[1] };
      }
    }
    layout.xaxis.range = [new Date(window.__range.start * 1000), new Date(window.__range.end * 1000)];
    layout.xaxis.type = "date";
    await Plotly.react(chart(body), traces, layout, CONFIG);
    return data.points;
  }
  async function drawHeatmap(panel, data, panelEl) {
    const body = panelEl.querySelector(".body");
    const labels = data.heatmap.y.map((le) => (le === "+Inf" ? "> last" : "≤ " + format(Number(le), panel.unit)));
    const trace = {
      type: "heatmap", x: data.heatmap.x.map((t) => new Date(t)), y: labels, z: data.heatmap.z,
      colorscale: [[0, "#0b0c0e"], [0.25, "#3274d9"], [0.6, "#f2cc0c"], [1, "#f2495c"]],
      xgap: 1, ygap: 1, hovertemplate: "%{y}<br>%{x}<br>%{z:.3g}/s<extra></extra>",
      colorbar: { thickness: 8, tickfont: { size: 10 } },
    };
    const layout = baseLayout();
    layout.showlegend = false;
    layout.hovermode = "closest";
    layout.yaxis.type = "category";
    layout.xaxis.type = "date";
    layout.xaxis.range = [new Date(window.__range.start * 1000), new Date(window.__range.end * 1000)];
    await Plotly.react(chart(body), [trace], layout, CONFIG);
    return data.points;
  }
  async function drawBars(panel, data, panelEl) {
    const body = panelEl.querySelector(".body");
    const rows = data.values.filter((v) => v.value !== null);
    const horizontal = panel.type === "bargauge" ? panel.orientation !== "vertical" : false;
    const ax = axis(panel.unit, rows.map((r) => r.value));
    const names = rows.map((r) => r.name || panel.title);
    const vals = rows.map((r) => r.value * ax.scale);
    const trace = {
      type: "bar", orientation: horizontal ? "h" : "v",
      x: horizontal ? vals : names, y: horizontal ? names : vals,
      text: rows.map((r) => shown(panel, r.value)), textposition: "auto", hovertemplate: "%{text}<extra></extra>",
      marker: {
        color: rows.map((r) => thresholdColor(panel, r.value, null) || r.value),
        colorscale: [[0, "#73bf69"], [0.5, "#f2cc0c"], [1, "#f2495c"]],
        cmin: panel.min === null ? Math.min(0, ...rows.map((r) => r.value)) : panel.min,
        cmax: panel.max === null ? Math.max(...rows.map((r) => r.value), 0) : panel.max,
      },
    };
    if (panel.thresholds.length) delete trace.marker.colorscale;
    const layout = baseLayout();
    layout.showlegend = false;
    layout.hovermode = "closest";
    const valueAxis = horizontal ? layout.xaxis : layout.yaxis;
    Object.assign(valueAxis, ax.layout, yRange(panel));
    if (horizontal) layout.yaxis.autorange = "reversed";
    layout.margin.l = horizontal ? 8 : 56;
    await Plotly.react(chart(body), [trace], layout, CONFIG);
    return rows.length;
  }
  async function drawGauge(panel, data, panelEl) {
    const body = panelEl.querySelector(".body");
    const rows = data.values.filter((v) => v.value !== null);
    const ax = axis(panel.unit, rows.map((r) => r.value));
    const traces = rows.map((r, i) => ({
      type: "indicator", mode: "gauge+number", value: r.value * ax.scale, title: { text: r.name, font: { size: 11 } },
      number: ax.layout.tickformat ? { valueformat: ax.layout.tickformat } : { suffix: ax.layout.ticksuffix || "" },
      gauge: { axis: { range: [(panel.min ?? 0) * ax.scale, (panel.max ?? Math.max(r.value, 1)) * ax.scale] }, bar: { color: thresholdColor(panel, r.value, COLORS[0]) } },
      domain: { row: 0, column: i },
    }));
    const layout = baseLayout();
    layout.grid = { rows: 1, columns: Math.max(traces.length, 1) };
    layout.margin = { l: 16, r: 16, t: 16, b: 8 };
    await Plotly.react(chart(body), traces, layout, CONFIG);
    return rows.length;
  }
  async function drawStat(panel, data, panelEl) {
    const body = panelEl.querySelector(".body");
    const box = element("div", "stats");
    const spark = data.spark && data.spark.y.filter((v) => v !== null).length > 1 ? data.spark : null;
    const many = data.values.length > 1;
    data.values.forEach((r, i) => {
      const stat = element("div", "stat");
      const value = element("div", "value", shown(panel, r.value));
      value.style.color = thresholdColor(panel, r.value, many ? COLORS[i % COLORS.length] : COLORS[0]);
      stat.appendChild(value);
      if (r.name) stat.appendChild(element("div", "name", r.name));
      box.appendChild(stat);
    });
    body.replaceChildren(box);
    if (spark) {
      const line = element("div", "spark");
      body.insertBefore(line, box);
      const tint = thresholdColor(panel, data.values[0].value, COLORS[0]);
      const trace = {
        type: "scatter", mode: "lines", x: spark.x.map((t) => new Date(t)), y: spark.y, connectgaps: true,
        fill: "tozeroy", line: { width: 1, color: tint }, hoverinfo: "skip",
        fillcolor: /^#[0-9a-f]{6}$/i.test(tint) ? tint + "33" : "rgba(115, 191, 105, 0.2)",
      };
      const layout = {
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", margin: { l: 0, r: 0, t: 0, b: 0 },
        xaxis: { visible: false, range: [new Date(window.__range.start * 1000), new Date(window.__range.end * 1000)] },
        yaxis: { visible: false, rangemode: "tozero" }, showlegend: false,
      };
      await Plotly.react(line, [trace], layout, { staticPlot: true, responsive: true });
    }
    return data.values.filter((r) => r.value !== null).length;
  }
  function drawTable(panel, data, panelEl) {
    const body = panelEl.querySelector(".body");
    const table = element("table");
    const head = table.createTHead().insertRow();
    for (const column of data.columns) head.appendChild(element("th", "", column));
    const rows = table.createTBody();
    for (const row of data.rows) {
      const tr = rows.insertRow();
      row.forEach((cell, i) => {
        const numeric = data.value_columns.includes(i);
        tr.appendChild(element("td", numeric ? "number" : "", numeric ? shown(panel, cell) : cell));
      });
    }
    body.replaceChildren(table);
    return data.rows.length;
  }
  async function draw(panel, data) {
    const panelEl = document.getElementById("panel-" + panel.id);
    if (data.state === "error") return fail(panelEl, data.error);
    const body = panelEl.querySelector(".body");
    if (data.points === 0) {
      body.replaceChildren(element("div", "message", "No data"));
      return finish(panelEl, data, 0);
    }
    try {
      let points;
      if (panel.type === "timeseries") points = await drawTimeseries(panel, data, panelEl);
      else if (panel.type === "heatmap") points = await drawHeatmap(panel, data, panelEl);
      else if (panel.type === "bargauge" || panel.type === "barchart") points = await drawBars(panel, data, panelEl);
      else if (panel.type === "gauge") points = await drawGauge(panel, data, panelEl);
      else if (panel.type === "table") points = drawTable(panel, data, panelEl);
      else points = await drawStat(panel, data, panelEl);
      finish(panelEl, data, points);
    } catch (error) {
      fail(panelEl, "drawing failed: " + error);
    }
  }

  // ---- controls, live data ----
  function query(extra) {
    const q = new URLSearchParams({ from: state.from, to: state.to });
    for (const [name, values] of Object.entries(state.vars)) for (const v of values) q.append("var-" + name, v);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q;
  }
  function remember() {
    const q = query({ refresh: state.refresh });
    window.history.replaceState(null, "", "?" + q.toString());
  }
  async function getJSON(url) {
    const answer = await fetch(url);
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.detail || answer.statusText);
    return body;
  }
  function renderVariables(variables) {
    const bar = document.getElementById("variables");
    bar.replaceChildren();
    for (const v of variables) {
      if (v.hidden) continue;
      const control = element("label", "control");
      control.appendChild(element("span", "", v.label));
      if (snapshot) {
        control.appendChild(element("select")).appendChild(element("option", "", v.all ? "All" : v.selected.join(", ") || "—"));
        control.querySelector("select").disabled = true;
      } else if (v.multi) {
        const details = element("details", "multi");
        details.appendChild(element("summary", "", v.all ? "All" : v.selected.join(", ") || "—"));
        const box = element("div", "options");
        const choices = (v.include_all ? ["$__all"] : []).concat(v.options);
        for (const option of choices) {
          const line = element("label");
          const check = element("input");
          check.type = "checkbox";
          check.value = option;
          check.checked = option === "$__all" ? v.all : !v.all && v.selected.includes(option);
          check.addEventListener("change", () => {
            const checked = [...box.querySelectorAll("input:checked")].map((c) => c.value);
            let chosen = option === "$__all" && check.checked ? ["$__all"] : checked.filter((c) => c !== "$__all");
            if (!chosen.length) chosen = v.include_all ? ["$__all"] : v.options.slice(0, 1);
            state.vars[v.name] = chosen;
            reload();
          });
          line.append(check, " " + (option === "$__all" ? "All" : option));
          box.appendChild(line);
        }
        details.appendChild(box);
        control.appendChild(details);
      } else {
        const select = element("select");
        select.name = v.name;
        const choices = (v.include_all ? ["$__all"] : []).concat(v.options);
        for (const option of v.selected.filter((s) => !choices.includes(s))) choices.push(option);
        for (const option of choices) {
          const o = element("option", "", option === "$__all" ? "All" : option);
          o.value = option;
          o.selected = option === "$__all" ? v.all : !v.all && v.selected[0] === option;
          select.appendChild(o);
        }
        select.addEventListener("change", () => { state.vars[v.name] = [select.value]; reload(); });
        control.appendChild(select);
      }
      if (v.error) control.title = v.error;
      bar.appendChild(control);
    }
  }
  function setupControls() {
    const range = document.getElementById("range");
    const refresh = document.getElementById("refresh");
    if (snapshot) {
      state.from = snapshot.time_from || board.time_from;
      state.refresh = "";
    }
    for (const o of range.options) o.selected = o.value === state.from;
    if (![...range.options].some((o) => o.selected)) range.appendChild(new Option(state.from, state.from, true, true));
    for (const o of refresh.options) o.selected = o.value === state.refresh;
    if (![...refresh.options].some((o) => o.selected)) refresh.appendChild(new Option(state.refresh, state.refresh, true, true));
    if (snapshot) {
      range.disabled = true;
      refresh.disabled = true;
      document.getElementById("reload").hidden = true;
      return;
    }
    range.addEventListener("change", () => { state.from = range.value; state.to = "now"; reload(); });
    refresh.addEventListener("change", () => { state.refresh = refresh.value; remember(); schedule(); });
    document.getElementById("reload").addEventListener("click", () => loadPanels());
  }
  function schedule() {
    if (timer) clearInterval(timer);
    timer = null;
    const m = /^(\d+)([smhd])$/.exec(state.refresh || "");
    if (!m) return;
    const ms = Number(m[1]) * { s: 1000, m: 60000, h: 3600000, d: 86400000 }[m[2]];
    timer = setInterval(() => loadPanels(), ms);
  }
  async function loadPanels() {
    const mine = ++generation;
    const q = query();
    const panels = board.panels.filter((p) => p.type !== "row");
    await Promise.all(panels.map(async (panel) => {
      const panelEl = document.getElementById("panel-" + panel.id);
      // The page starts with data-state="loading"; a refresh keeps the last drawing and its state
      // until the new data is drawn (as Grafana does), so a panel never blinks back to "loading".
      let data;
      try {
        data = await getJSON(`/api/dashboards/${encodeURIComponent(board.uid)}/panels/${panel.id}?${q}`);
      } catch (error) {
        data = { state: "error", error: String(error.message || error), points: 0 };
      }
      if (mine !== generation) return;
      if (data.range) window.__range = data.range;
      await draw(panel, data);
    }));
    document.body.dataset.loaded = String(mine);
    document.body.dataset.range = state.from + " to " + state.to;
    document.body.dataset.refresh = state.refresh || "off";
  }
  async function reload() {
    remember();
    try {
      const answer = await getJSON(`/api/dashboards/${encodeURIComponent(board.uid)}/variables?${query()}`);
      window.__range = answer.range;
      state.vars = {};
      for (const v of answer.variables) state.vars[v.name] = v.all ? ["$__all"] : v.selected;
      renderVariables(answer.variables);
      remember();
    } catch (error) {
      document.getElementById("variables").replaceChildren(element("span", "error", "variables: " + error.message));
    }
    await loadPanels();
  }

  setupControls();
  if (snapshot) {
    window.__range = snapshot.range;
    renderVariables(snapshot.variables);
    const byId = Object.fromEntries(snapshot.panels.map((p) => [p.id, p]));
    Promise.all(board.panels.filter((p) => p.type !== "row").map((p) => draw(p, byId[p.id]))).then(() => {
      document.body.dataset.loaded = "snapshot";
    });
  } else {
    reload().then(schedule);
  }
})();
