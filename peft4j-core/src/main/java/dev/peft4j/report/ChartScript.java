/*
 * ChartScript: the browser-side code of the HTML report. It reads the embedded JSON
 * (<script type="application/json" id="peft4j-data">) and draws every chart with Chart.js,
 * which CompareReport inlines ahead of it. Chart.js has no error bars, so ERROR_BARS is a small
 * Chart.js plugin that draws each bar's confidence interval in afterDatasetsDraw, using the
 * chart's own scales to place it.
 * Constraints: no network; no animation (headless screenshots must show the final frame);
 * missing numbers are JSON null and are left out of the charts.
 */
package dev.peft4j.report;

final class ChartScript {
    private ChartScript() {
    }

    static final String CODE = """
            (function () {
              'use strict';
              var data = JSON.parse(document.getElementById('peft4j-data').textContent);
              var PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2',
                             '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
              function color(i) { return PALETTE[i % PALETTE.length]; }
              function fmt(v) { return v == null ? 'n/a' : Number(v).toPrecision(4); }

              // Error bars: a Chart.js plugin; dataset.errorBars[j] = {lo, hi} for data point j.
              var errorBars = {
                id: 'peft4jErrorBars',
                afterDatasetsDraw: function (chart) {
                  var ctx = chart.ctx, y = chart.scales.y;
                  chart.data.datasets.forEach(function (ds, i) {
                    var meta = chart.getDatasetMeta(i);
                    if (!ds.errorBars || meta.hidden || !chart.isDatasetVisible(i)) return;
                    meta.data.forEach(function (bar, j) {
                      var e = ds.errorBars[j];
                      if (!e || e.lo == null || e.hi == null) return;
                      var top = y.getPixelForValue(e.hi), bottom = y.getPixelForValue(e.lo);
                      var half = Math.max(3, Math.min(10, (bar.width || 12) / 4));
                      ctx.save();
                      ctx.strokeStyle = '#222';
                      ctx.lineWidth = 1.5;
                      ctx.beginPath();
                      ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
                      ctx.moveTo(bar.x - half, top); ctx.lineTo(bar.x + half, top);
                      ctx.moveTo(bar.x - half, bottom); ctx.lineTo(bar.x + half, bottom);
                      ctx.stroke();
                      ctx.restore();
                    });
                  });
                }
              };

              function canvasIn(container, id) {
                var box = document.createElement('div');
                box.className = 'chart';
                var c = document.createElement('canvas');
                c.id = id;
                box.appendChild(c);
                container.appendChild(box);
                return c;
              }

              // One grouped bar chart per metric: one bar per variant, with its interval.
              var metricsBox = document.getElementById('metric-charts');
              data.metrics.forEach(function (m, k) {
                var datasets = [], lows = [], highs = [];
                data.variants.forEach(function (v, i) {
                  var e = v.metrics[m.name];
                  if (!e || e.value == null) return;
                  datasets.push({
                    label: v.name, data: [e.value], backgroundColor: color(i), borderColor: color(i),
                    errorBars: [{lo: e.lo, hi: e.hi}], peft4jN: e.n
                  });
                  lows.push(e.lo == null ? e.value : e.lo);
                  highs.push(e.hi == null ? e.value : e.hi);
                });
                if (!datasets.length) return;
                var lo = Math.min.apply(null, lows), hi = Math.max.apply(null, highs);
                var zeroBased = lo >= 0;
                new Chart(canvasIn(metricsBox, 'metric-chart-' + k), {
                  type: 'bar',
                  data: {labels: [m.name], datasets: datasets},
                  options: {
                    animation: false, responsive: true, maintainAspectRatio: false,
                    plugins: {
                      title: {display: true, text: m.name + (m.higher_is_better ? '  (higher is better)' : '  (lower is better)')},
                      tooltip: {callbacks: {label: function (c) {
                        var e = c.dataset.errorBars[0];
                        return c.dataset.label + ': ' + fmt(c.raw) +
                          (e.lo != null ? ' [' + fmt(e.lo) + ', ' + fmt(e.hi) + ']' : '') +
                          (c.dataset.peft4jN ? '  n=' + c.dataset.peft4jN : '');
                      }}}
                    },
                    scales: {y: {beginAtZero: zeroBased, suggestedMax: hi + (hi - Math.min(0, lo)) * 0.05}}
                  },
                  plugins: [errorBars]
                });
              });

              // Training curves: train loss (solid line) and validation loss (dashed, diamond markers,
              // only at the steps where validation ran) per variant; a checkbox switches the y axis to log scale.
              var lossSets = [];
              data.variants.forEach(function (v, i) {
                var train = [], val = [];
                (v.loss_curve || []).forEach(function (p) {
                  if (p.loss != null) train.push({x: p.step, y: p.loss});
                  if (p.val_loss != null) val.push({x: p.step, y: p.val_loss});
                });
                if (train.length) lossSets.push({label: v.name + ' training loss (solid)', data: train, borderColor: color(i),
                  backgroundColor: color(i), pointRadius: train.length > 60 ? 0 : 2, borderWidth: 2, tension: 0.1,
                  pointStyle: 'line', spanGaps: false});
                if (val.length) lossSets.push({label: v.name + ' validation loss (dashed, \u25c6)', data: val, borderColor: color(i),
                  backgroundColor: color(i), borderDash: [6, 4], pointRadius: 4, pointStyle: 'rectRot', borderWidth: 2,
                  showLine: val.length > 2, spanGaps: false});
              });
              var lossBox = document.getElementById('loss-section');
              if (lossSets.length) {
                var lossChart = new Chart(canvasIn(document.getElementById('loss-chart'), 'loss-chart-canvas'), {
                  type: 'line',
                  data: {datasets: lossSets},
                  options: {
                    animation: false, responsive: true, maintainAspectRatio: false, parsing: true,
                    plugins: {
                      title: {display: true, text: 'Training loss (solid: training, dashed with \u25c6: validation)'},
                      legend: {labels: {usePointStyle: true, pointStyleWidth: 36, boxHeight: 8, font: {size: 13}, padding: 14}}
                    },
                    scales: {x: {type: 'linear', title: {display: true, text: 'step'}},
                             y: {type: 'linear', title: {display: true, text: 'loss (nats/token)'}}}
                  }
                });
                var logBox = document.getElementById('loss-log');
                if (logBox) logBox.addEventListener('change', function () {
                  lossChart.options.scales.y.type = logBox.checked ? 'logarithmic' : 'linear';
                  lossChart.update();
                });
              } else if (lossBox) {
                lossBox.querySelector('.empty').style.display = 'block';
              }

              // Rank budget over steps (AdaLoRA's allocator), only when a run logged it.
              var rankSets = [];
              data.variants.forEach(function (v, i) {
                var pts = [];
                (v.loss_curve || []).forEach(function (p) { if (p.rank_budget != null) pts.push({x: p.step, y: p.rank_budget}); });
                if (pts.length) rankSets.push({label: v.name + ' rank budget', data: pts, borderColor: color(i),
                  backgroundColor: color(i), pointRadius: 0, borderWidth: 2, stepped: true});
              });
              if (rankSets.length) {
                document.getElementById('rank-section').style.display = 'block';
                new Chart(canvasIn(document.getElementById('rank-chart'), 'rank-chart-canvas'), {
                  type: 'line',
                  data: {datasets: rankSets},
                  options: {
                    animation: false, responsive: true, maintainAspectRatio: false, parsing: true,
                    plugins: {title: {display: true, text: 'Rank budget (sum of kept ranks over adapted modules)'}},
                    scales: {x: {type: 'linear', title: {display: true, text: 'step'}},
                             y: {title: {display: true, text: 'rank budget'}}}
                  }
                });
              }

              // Drift from the base: KL and forgetting, one bar per variant that has them.
              var driftSets = [];
              data.variants.forEach(function (v, i) {
                var d = v.drift || {};
                if (d.kl_from_base == null && d.forgetting == null) return;
                if (i === 0 && !d.kl_from_base && !d.forgetting) return; // the base: zero drift from itself
                driftSets.push({label: v.name, data: [d.kl_from_base, d.forgetting],
                  backgroundColor: color(i), borderColor: color(i),
                  errorBars: [{lo: d.kl_lo, hi: d.kl_hi}, {lo: d.forgetting_lo, hi: d.forgetting_hi}], peft4jN: d.n_docs});
              });
              var driftBox = document.getElementById('drift-section');
              if (driftSets.length) {
                new Chart(canvasIn(document.getElementById('drift-chart'), 'drift-chart-canvas'), {
                  type: 'bar',
                  data: {labels: ['KL from base (nats/position)', 'forgetting (nats/token)'], datasets: driftSets},
                  options: {
                    animation: false, responsive: true, maintainAspectRatio: false,
                    plugins: {title: {display: true, text: 'Drift from base (lower is better; whiskers: 95% bootstrap over reference documents)'}},
                    scales: {y: {beginAtZero: true}}
                  },
                  plugins: [errorBars]
                });
              } else if (driftBox) {
                driftBox.querySelector('.empty').style.display = 'block';
              }
              document.body.setAttribute('data-rendered', 'true');
            })();
            """;
}
