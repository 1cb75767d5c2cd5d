// A line chart in plain SVG: a few series over time, y from 0 to a rounded maximum.
// Colours come from CSS classes (series-0, series-1, ...), so no inline styles.

export interface Series {
  label: string;
  values: (number | null)[]; // One per point in time; null: no value (gap).
}

// The smallest 1, 2 or 5 × 10^n at or above v (for the y axis).
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const W = 640;
const H = 200;
const PAD = { l: 64, r: 10, t: 10, b: 22 };

export function LineChart(props: {
  title: string;
  series: Series[];
  times: number[]; // ms, one per point.
  unit: string;
  format: (v: number) => string;
}) {
  const n = props.times.length;
  let max = 0;
  for (const s of props.series) for (const v of s.values) if (v !== null && v > max) max = v;
  const top = niceMax(max);
  const x = (i: number) => PAD.l + (n <= 1 ? 0 : (i / (n - 1)) * (W - PAD.l - PAD.r));
  const y = (v: number) => PAD.t + (1 - v / top) * (H - PAD.t - PAD.b);
  const latest = props.series.map((s) => {
    const v = [...s.values].reverse().find((x) => x !== null);
    return `${s.label} ${v === undefined || v === null ? "—" : props.format(v)}`;
  });
  const span = n > 1 ? Math.round((props.times[n - 1] - props.times[0]) / 1000) : 0;

  return (
    <figure className="chart">
      <figcaption>
        <strong>{props.title}</strong> <span className="muted">({props.unit})</span>
      </figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${props.title}, latest: ${latest.join(", ")}`}
        data-points={n}
      >
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line className="grid" x1={PAD.l} x2={W - PAD.r} y1={y(top * f)} y2={y(top * f)} />
            <text className="axis" x={PAD.l - 6} y={y(top * f) + 4} textAnchor="end">
              {f === 0 ? "0" : props.format(top * f)}
            </text>
          </g>
        ))}
        <text className="axis" x={PAD.l} y={H - 4}>
          {span ? `−${span} s` : ""}
        </text>
        <text className="axis" x={W - PAD.r} y={H - 4} textAnchor="end">
          now
        </text>
        {props.series.map((s, si) => {
          // One path, broken into segments where values are missing.
          let d = "";
          let pen = false;
          s.values.forEach((v, i) => {
            if (v === null) {
              pen = false;
              return;
            }
            d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
            pen = true;
          });
          return <path key={s.label} className={`line series-${si}`} d={d} />;
        })}
        {props.series.map((s, si) =>
          // Dots for the latest value and for values with no neighbour (a line needs two).
          s.values.map((v, i) => {
            const alone = (i === 0 || s.values[i - 1] === null) && (i === n - 1 || s.values[i + 1] === null);
            if (v === null || (!alone && i !== n - 1)) return null;
            return <circle key={`${s.label}-${i}`} className={`dot series-${si}`} cx={x(i)} cy={y(v)} r={3} />;
          }),
        )}
      </svg>
      <ul className="legend">
        {props.series.map((s, si) => (
          <li key={s.label}>
            <span className={`swatch series-${si}`} aria-hidden="true" />
            {latest[si]}
          </li>
        ))}
      </ul>
    </figure>
  );
}
