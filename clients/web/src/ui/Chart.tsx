// A day-by-day line chart on the fixed 0-10 scale: a point's tenderness
// before and after each day's sessions, or a region's daily pain score. The
// caption says what it shows; the screens add a table of the same numbers.

import { chartGeometry, DEFAULT_BOX, type DayValue } from "../logic/chart";

export function Chart({ days, title, kind = "tenderness" }: { days: DayValue[]; title: string; kind?: "tenderness" | "pain" }) {
  const g = chartGeometry(days);
  const box = DEFAULT_BOX;
  const id = `${kind}-${title.replace(/\W/g, "-")}`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${box.width} ${box.height}`} role="img" aria-labelledby={`${id}-cap`} data-testid={kind === "pain" ? "region-chart" : "progress-chart"}>
        {g.yTicks.map((t) => (
          <g key={t.label}>
            <line class="grid" x1={g.plot.left} x2={g.plot.right} y1={t.y} y2={t.y} />
            <text class="tick" x={g.plot.left - 6} y={t.y + 4} text-anchor="end">
              {t.label}
            </text>
          </g>
        ))}
        {g.xTicks.map((t) => (
          <text key={t.label} class="tick" x={t.x} y={box.height - 8} text-anchor={t.anchor}>
            {t.label}
          </text>
        ))}
        {g.beforePath && <path class="line before" d={g.beforePath} />}
        {g.afterPath && <path class="line after" d={g.afterPath} />}
        {g.before.map((p) => (
          <circle key={`b${p.date}`} class="pt before" cx={p.x} cy={p.y} r={4} />
        ))}
        {g.after.map((p) => (
          <rect key={`a${p.date}`} class="pt after" x={p.x - 4} y={p.y - 4} width={8} height={8} data-value={p.value} />
        ))}
      </svg>
      {kind === "pain" ? (
        <figcaption id={`${id}-cap`}>Pain (0–10) per day in {title}, from your daily check-ins.</figcaption>
      ) : (
      <figcaption id={`${id}-cap`}>
        Tenderness (0–10) per day for {title}: <span class="legend before">● before</span>{" "}
        <span class="legend after">■ after</span> each day's sessions.
      </figcaption>
      )}
    </figure>
  );
}

