// The body outline from the catalog's body map, optionally with tappable
// regions, referral zones and trigger point dots.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { type BodyMap, BodyView, Side } from "../gen/knotwork/catalog/v1/catalog_pb";
import {
  type Box,
  type Dot,
  drawingSize,
  type Hotspot,
  keyboardOrder,
  moveFocus,
  outlineOf,
  rightIsImageLeft,
  targetRadii,
} from "../logic/body";
import { sideLabel } from "../logic/labels";

/** A referral zone to draw: a region's shape, primary (dark) or spillover (light). */
export interface Zone extends Hotspot {
  primary: boolean;
  /** Drawn with a thick outline: it matches where it hurts. */
  highlight?: boolean;
}

export interface FigureProps {
  map: BodyMap | undefined;
  view: BodyView;
  /** An accessible name for the whole drawing. */
  label: string;
  /** The part shown, in drawing units; the whole figure by default. */
  box?: Box;
  /** Tappable regions (buttons, at least 24x24 CSS px each). */
  hotspots?: Hotspot[];
  isPicked?: (h: Hotspot) => boolean;
  onToggle?: (h: Hotspot) => void;
  regionName?: (region: string) => string;
  /** Reports the region under the pointer or the focus (for a visible label). */
  onHover?: (h: Hotspot | null) => void;
  /** Regions drawn as a picture only (not focusable); a tap calls `onShapeTap`. */
  shapes?: Hotspot[];
  onShapeTap?: (h: Hotspot) => void;
  zones?: Zone[];
  dots?: Dot[];
  /** Small figure: no side labels, bigger dots. */
  small?: boolean;
  class?: string;
}

/** CSS px per drawing unit of the rendered svg, updated on resize. */
function useScale(svg: { current: SVGSVGElement | null }, box: Box): number {
  const [scale, setScale] = useState(1);
  useEffect(() => {
    const el = svg.current;
    if (!el) return;
    const update = () => {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) setScale(Math.min(r.width / box.w, r.height / box.h));
    };
    update();
    const ro = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(update);
    ro?.observe(el);
    return () => ro?.disconnect();
  }, [box.x, box.y, box.w, box.h]);
  return scale;
}

export function Figure(props: FigureProps) {
  const { map, view, hotspots = [], dots = [], zones = [], shapes = [] } = props;
  const { w, h } = drawingSize(map);
  const outline = useMemo(() => outlineOf(map, view), [map, view]);
  // The whole figure spans about x = 214..486 of 700; leave a margin for the side labels.
  const box = props.box ?? { x: w * (180 / 700), y: 0, w: w * (340 / 700), h };
  const rightOnLeft = rightIsImageLeft(view);
  const viewName = view === BodyView.BACK ? "Back" : "Front";
  const description = `${viewName} of the body. The person's right side is on the ${rightOnLeft ? "left" : "right"} of the picture.`;
  // One tab stop for the whole map; the arrow keys move between areas.
  const order = useMemo(() => keyboardOrder(hotspots), [hotspots]);
  const [pos, setPosState] = useState(0);
  const current = order[Math.min(pos, order.length - 1)];
  const svg = useRef<SVGSVGElement>(null);
  const scale = useScale(svg, box);
  const onKey = (e: KeyboardEvent, spot: Hotspot) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      props.onToggle?.(spot);
      return;
    }
    const next = moveFocus(Math.min(pos, order.length - 1), e.key, order.length);
    if (next === null) return;
    e.preventDefault();
    setPosState(next);
    svg.current?.querySelectorAll<SVGElement>("ellipse.hotspot")[order[next]]?.focus();
  };
  const interactive = hotspots.length > 0;
  const fontSize = Math.max(10, 16 / scale);
  return (
    <svg
      class={`figure ${props.class ?? ""}`}
      viewBox={`${box.x} ${box.y} ${box.w} ${box.h}`}
      role={interactive ? "group" : "img"}
      aria-label={`${props.label}. ${description}${interactive ? " Use the arrow keys to move between areas." : ""}`}
      ref={svg}
      data-view={viewName.toLowerCase()}
      data-scale={scale.toFixed(3)}
    >
      {outline && (
        <g class="body" aria-hidden="true">
          <ellipse cx={outline.head.cx} cy={outline.head.cy} rx={outline.head.rx} ry={outline.head.ry} />
          <path d={outline.path} />
        </g>
      )}
      {outline?.guides.map((g, i) => <polyline key={i} class="spine" points={g} aria-hidden="true" />)}
      {!props.small && (
        <g class="side-labels" aria-hidden="true">
          <text x={box.x + 4} y={box.y + fontSize * 1.4} font-size={fontSize}>
            {rightOnLeft ? "Right" : "Left"}
          </text>
          <text x={box.x + box.w - 4} y={box.y + fontSize * 1.4} text-anchor="end" font-size={fontSize}>
            {rightOnLeft ? "Left" : "Right"}
          </text>
        </g>
      )}
      {shapes.map((s) => {
        const picked = props.isPicked?.(s) ?? false;
        return (
          <ellipse
            key={`${s.region}-${s.side}`}
            class={`shape${picked ? " picked" : ""}`}
            cx={s.cx * w}
            cy={s.cy * h}
            rx={s.rx * w}
            ry={s.ry * h}
            aria-hidden="true"
            data-region={s.region}
            onClick={() => props.onShapeTap?.(s)}
          />
        );
      })}
      {zones
        .slice()
        .sort((a, b) => Number(a.primary) - Number(b.primary))
        .map((z) => (
          <ellipse
            key={`${z.region}-${z.side}`}
            class={`zone ${z.primary ? "primary" : "spillover"}${z.highlight ? " match" : ""}`}
            cx={z.cx * w}
            cy={z.cy * h}
            rx={z.rx * w}
            ry={z.ry * h}
            aria-hidden="true"
            data-region={z.region}
          />
        ))}
      {hotspots.map((spot, i) => {
        const picked = props.isPicked?.(spot) ?? false;
        const name = props.regionName?.(spot.region) ?? spot.region;
        const side = spot.side === Side.MIDLINE ? "" : `, ${sideLabel(spot.side)} side`;
        const r = targetRadii(spot, scale, 26, { w, h });
        return (
          <ellipse
            key={`${spot.region}-${spot.side}`}
            class={`hotspot${picked ? " picked" : ""}`}
            cx={spot.cx * w}
            cy={spot.cy * h}
            rx={r.rx}
            ry={r.ry}
            role="button"
            tabindex={i === current ? 0 : -1}
            onFocus={() => {
              setPosState(order.indexOf(i));
              props.onHover?.(spot);
            }}
            onBlur={() => props.onHover?.(null)}
            onPointerEnter={() => props.onHover?.(spot)}
            onPointerLeave={() => props.onHover?.(null)}
            aria-pressed={picked}
            aria-label={`${name}${side}`}
            data-region={spot.region}
            data-side={sideLabel(spot.side) || "middle"}
            onClick={() => props.onToggle?.(spot)}
            onKeyDown={(e) => onKey(e, spot)}
          >
            <title>{`${name}${side}`}</title>
          </ellipse>
        );
      })}
      {dots.map((d, i) => (
        <g key={i} class="dot" data-side={sideLabel(d.side) || "middle"} aria-hidden="true">
          <circle cx={d.x * w} cy={d.y * h} r={props.small ? 22 : 16} class="dot-halo" />
          <circle cx={d.x * w} cy={d.y * h} r={props.small ? 11 : 9} class="dot-core" />
        </g>
      ))}
    </svg>
  );
}
