// The body outline, optionally with tappable regions and trigger point dots.

import { useMemo, useRef, useState } from "preact/hooks";
import { BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import {
  cropBox,
  type Dot,
  HEAD,
  HEIGHT,
  type Hotspot,
  keyboardOrder,
  moveFocus,
  outlinePath,
  rightIsImageLeft,
  WIDTH,
} from "../logic/body";
import { sideLabel } from "../logic/labels";

const OUTLINE = outlinePath();

export interface FigureProps {
  view: BodyView;
  /** An accessible name for the whole drawing. */
  label: string;
  hotspots?: Hotspot[];
  isPicked?: (h: Hotspot) => boolean;
  onToggle?: (h: Hotspot) => void;
  regionName?: (region: string) => string;
  dots?: Dot[];
  /** Crop to the dots (small figures beside candidates). */
  crop?: boolean;
  class?: string;
}

export function Figure(props: FigureProps) {
  const { view, hotspots = [], dots = [] } = props;
  // The whole figure spans about x = 214..486; leave a margin for the side labels.
  const box = props.crop ? cropBox(dots, 240) : { x: 180, y: 0, w: 340, h: HEIGHT };
  const rightOnLeft = rightIsImageLeft(view);
  const viewName = view === BodyView.BACK ? "Back" : "Front";
  const description = `${viewName} of the body. The person's right side is on the ${rightOnLeft ? "left" : "right"} of the picture.`;
  // One tab stop for the whole map; the arrow keys move between areas.
  const order = useMemo(() => keyboardOrder(hotspots), [hotspots]);
  const [pos, setPosState] = useState(0);
  const current = order[Math.min(pos, order.length - 1)];
  const svg = useRef<SVGSVGElement>(null);
  const onKey = (e: KeyboardEvent, h: Hotspot) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      props.onToggle?.(h);
      return;
    }
    const next = moveFocus(Math.min(pos, order.length - 1), e.key, order.length);
    if (next === null) return;
    e.preventDefault();
    setPosState(next);
    svg.current?.querySelectorAll<SVGElement>("ellipse.hotspot")[order[next]]?.focus();
  };
  return (
    <svg
      class={`figure ${props.class ?? ""}`}
      viewBox={`${box.x} ${box.y} ${box.w} ${box.h}`}
      role="group"
      aria-label={`${props.label}. ${description}${hotspots.length ? " Use the arrow keys to move between areas." : ""}`}
      ref={svg}
      data-view={viewName.toLowerCase()}
    >
      <ellipse class="body" cx={HEAD.cx} cy={HEAD.cy} rx={HEAD.rx} ry={HEAD.ry} aria-hidden="true" />
      <path class="body" d={OUTLINE} aria-hidden="true" />
      {view === BodyView.BACK && <line class="spine" x1={350} y1={120} x2={350} y2={470} aria-hidden="true" />}
      {!props.crop && (
        <g class="side-labels" aria-hidden="true">
          <text x={box.x + 4} y={40}>
            {rightOnLeft ? "Right" : "Left"}
          </text>
          <text x={box.x + box.w - 4} y={40} text-anchor="end">
            {rightOnLeft ? "Left" : "Right"}
          </text>
        </g>
      )}
      {hotspots.map((h, i) => {
        const picked = props.isPicked?.(h) ?? false;
        const name = props.regionName?.(h.region) ?? h.region;
        const side = h.side === Side.MIDLINE ? "" : `, ${sideLabel(h.side)} side`;
        return (
          <ellipse
            key={`${h.region}-${h.side}`}
            class={`hotspot${picked ? " picked" : ""}`}
            cx={h.cx * WIDTH}
            cy={h.cy * HEIGHT}
            rx={Math.max(h.rx * WIDTH, 6)}
            ry={Math.max(h.ry * HEIGHT, 6)}
            role="button"
            tabindex={i === current ? 0 : -1}
            onFocus={() => setPosState(order.indexOf(i))}
            aria-pressed={picked}
            aria-label={`${name}${side}`}
            data-region={h.region}
            data-side={sideLabel(h.side) || "middle"}
            onClick={() => props.onToggle?.(h)}
            onKeyDown={(e) => onKey(e, h)}
          >
            <title>{`${name}${side}`}</title>
          </ellipse>
        );
      })}
      {dots.map((d, i) => (
        <g key={i} class="dot" data-side={sideLabel(d.side) || "middle"} aria-hidden="true">
          <circle cx={d.x * WIDTH} cy={d.y * HEIGHT} r={props.crop ? 26 : 16} class="dot-halo" />
          <circle cx={d.x * WIDTH} cy={d.y * HEIGHT} r={props.crop ? 13 : 9} class="dot-core" />
        </g>
      ))}
    </svg>
  );
}
