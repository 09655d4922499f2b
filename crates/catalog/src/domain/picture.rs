//! A trigger point's referral picture as an SVG document: the figure from the
//! body map, the point itself (mirrored for the side asked), its PRIMARY
//! zones dark and SPILLOVER zones light, and a legend.
//!
//! The picture is drawn from the catalog alone, so every client shows the
//! same one; the service renders each once per version (`encoded.rs`).
//! When the zones or the point lie on both views, the front and the back are
//! drawn side by side. The document is standalone (presentation attributes,
//! no stylesheet), accessible (`role="img"`, `<title>`, `<desc>`) and every
//! text is XML-escaped. Zones carry `class="zone primary"` or
//! `class="zone spillover"` and `data-region`, so a client may restyle them.

use std::fmt::Write;

use super::Catalog;
use super::body_map::{Ellipse, ShapeSide};
use super::model::{ReferralKind, View};

/// Which side of the person a picture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureSide {
    /// The person's right side.
    Right,
    /// The person's left side (the mirror of the right).
    Left,
    /// Both sides (and the only picture of a midline point).
    Both,
}

impl PictureSide {
    /// The three pictures a bilateral point has, in the order stored.
    pub const ALL: [PictureSide; 3] = [PictureSide::Right, PictureSide::Left, PictureSide::Both];

    fn shows(self, side: ShapeSide) -> bool {
        matches!(
            (self, side),
            (_, ShapeSide::Midline)
                | (PictureSide::Both, _)
                | (PictureSide::Right, ShapeSide::Right)
                | (PictureSide::Left, ShapeSide::Left)
        )
    }
}

/// Colours: dark red for primary zones, light red (dashed edge, so it reads
/// without colour too) for spillover, a dark blue ringed dot for the point,
/// and an outline at well over 3:1 against the page and the body.
const BODY_FILL: &str = "#efe3d6";
const BODY_LINE: &str = "#5c4d40";
const PRIMARY_FILL: &str = "#a51d24";
const SPILLOVER_FILL: &str = "#f3a6a0";
const SPILLOVER_LINE: &str = "#a51d24";
const POINT_FILL: &str = "#12355b";
const TEXT: &str = "#1d2330";

/// Width of one view's panel in drawing units (the figure spans about
/// x = 214..486 of 700).
const PANEL_W: f64 = 340.0;
const PANEL_X: f64 = 180.0;
const HEADER_H: f64 = 52.0;
const LEGEND_H: f64 = 200.0;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids are dropped rather than emitted.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn num(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn side_word(side: ShapeSide) -> &'static str {
    match side {
        ShapeSide::Right => " (right)",
        ShapeSide::Left => " (left)",
        ShapeSide::Midline => "",
    }
}

/// Draws the referral picture of trigger point `point` for `side`. A midline
/// point ignores `side`; `Both` draws both sides of a bilateral point.
pub fn render(c: &Catalog, point: usize, side: PictureSide) -> String {
    let d = c.data();
    let Some(t) = d.trigger_points.get(point) else {
        return String::new();
    };
    let map = c.body_map();
    let side = if t.bilateral { side } else { PictureSide::Both };
    let (w, h) = (map.width, map.height);

    // The point's dots, in normalized coordinates.
    let dots: Vec<(f64, f64, ShapeSide)> = if !t.bilateral {
        vec![(t.chart.x, t.chart.y, ShapeSide::Midline)]
    } else {
        let right = (t.chart.x, t.chart.y, ShapeSide::Right);
        let left = (1.0 - t.chart.x, t.chart.y, ShapeSide::Left);
        match side {
            PictureSide::Right => vec![right],
            PictureSide::Left => vec![left],
            PictureSide::Both => vec![right, left],
        }
    };

    // The zones to draw: spillover first so primary lies on top.
    let mut zones: Vec<(ReferralKind, usize, ShapeSide, View, Ellipse)> = Vec::new();
    for kind in [ReferralKind::Spillover, ReferralKind::Primary] {
        for r in t.referrals.iter().filter(|r| r.kind == kind) {
            let Some(region) = c.region_index(&r.region) else {
                continue;
            };
            for s in map.shapes_of(region).filter(|s| side.shows(s.side)) {
                zones.push((kind, region, s.side, s.view, s.ellipse));
            }
        }
    }

    let mut views: Vec<View> = vec![t.chart.view];
    for z in &zones {
        if !views.contains(&z.3) {
            views.push(z.3);
        }
    }
    views.sort_by_key(|v| *v == View::Back);

    let side_text = match (t.bilateral, side) {
        (false, _) => "",
        (true, PictureSide::Right) => ", right side",
        (true, PictureSide::Left) => ", left side",
        (true, PictureSide::Both) => ", both sides",
    };
    let point_region = c
        .region_index(&t.region)
        .and_then(|i| d.regions.get(i))
        .map_or(t.region.as_str(), |r| r.name.as_str());
    let zone_names = |kind: ReferralKind| -> String {
        let mut names: Vec<String> = Vec::new();
        for r in t.referrals.iter().filter(|r| r.kind == kind) {
            if let Some(region) = c.region_index(&r.region).and_then(|i| d.regions.get(i)) {
                names.push(region.name.to_lowercase());
            }
        }
        names.join(", ")
    };
    let primary = zone_names(ReferralKind::Primary);
    let spillover = zone_names(ReferralKind::Spillover);
    let title = format!("Referral pattern of {}{side_text}", t.name);
    let mut desc = format!(
        "The trigger point lies in the {} ({} view).",
        point_region.to_lowercase(),
        if t.chart.view == View::Front {
            "front"
        } else {
            "back"
        }
    );
    if !primary.is_empty() {
        let _ = write!(desc, " It refers pain mainly to: {primary}.");
    }
    if !spillover.is_empty() {
        let _ = write!(desc, " It can spill over to: {spillover}.");
    }

    let id = format!("kw-{}-{}", t.id, side_label(side));
    let total_w = PANEL_W * views.len() as f64;
    let total_h = HEADER_H + h + LEGEND_H;
    let mut s = String::with_capacity(8 * 1024);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w} {total_h}" width="{total_w}" height="{total_h}" role="img" aria-labelledby="{id}-title {id}-desc" class="knotwork-referral" data-trigger-point="{}" data-side="{}">"#,
        escape(&t.id),
        side_label(side),
    );
    let _ = write!(
        s,
        r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(&title),
        escape(&desc)
    );
    let _ = write!(
        s,
        r##"<rect width="{total_w}" height="{total_h}" fill="#ffffff"/>"##
    );

    for (i, &view) in views.iter().enumerate() {
        let Some(o) = map.outline(view) else {
            continue;
        };
        let dx = PANEL_W * i as f64 - PANEL_X;
        let name = if view == View::Front { "front" } else { "back" };
        let (left_word, right_word) = if view == View::Front {
            ("Right", "Left")
        } else {
            ("Left", "Right")
        };
        let _ = write!(
            s,
            r#"<g class="view" data-view="{name}" transform="translate({} {HEADER_H})">"#,
            num(dx)
        );
        let cx = PANEL_X + PANEL_W / 2.0;
        if i > 0 {
            let _ = write!(
                s,
                r##"<line x1="{PANEL_X}" y1="-40" x2="{PANEL_X}" y2="{h}" stroke="#d5d8de" stroke-width="2"/>"##
            );
        }
        let _ = write!(
            s,
            r#"<text x="{cx}" y="-16" text-anchor="middle" font-family="sans-serif" font-size="30" font-weight="bold" fill="{TEXT}">{}</text>"#,
            if view == View::Front { "Front" } else { "Back" }
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="-16" font-family="sans-serif" font-size="24" fill="{TEXT}">{left_word}</text><text x="{}" y="-16" text-anchor="end" font-family="sans-serif" font-size="24" fill="{TEXT}">{right_word}</text>"#,
            PANEL_X + 12.0,
            PANEL_X + PANEL_W - 12.0
        );
        let _ = write!(
            s,
            r#"<g class="body" fill="{BODY_FILL}" stroke="{BODY_LINE}" stroke-width="3"><ellipse cx="{}" cy="{}" rx="{}" ry="{}"/><path d="{}"/></g>"#,
            num(o.head.cx * w),
            num(o.head.cy * h),
            num(o.head.rx * w),
            num(o.head.ry * h),
            o.path
        );
        for g in &o.guides {
            let pts: Vec<String> = g
                .iter()
                .map(|[x, y]| format!("{},{}", num(x * w), num(y * h)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline class="guide" points="{}" fill="none" stroke="{BODY_LINE}" stroke-width="2" stroke-dasharray="6 6"/>"#,
                pts.join(" ")
            );
        }
        for &(kind, region, zside, _, e) in zones.iter().filter(|z| z.3 == view) {
            let (class, fill, extra) = match kind {
                ReferralKind::Primary => ("primary", PRIMARY_FILL, String::new()),
                ReferralKind::Spillover => (
                    "spillover",
                    SPILLOVER_FILL,
                    format!(
                        r#" stroke="{SPILLOVER_LINE}" stroke-width="2" stroke-dasharray="5 4""#
                    ),
                ),
            };
            let region_name = d.regions.get(region).map_or("", |r| r.name.as_str());
            let rid = d.regions.get(region).map_or("", |r| r.id.as_str());
            let _ = write!(
                s,
                r#"<ellipse class="zone {class}" data-region="{}" data-side="{}" cx="{}" cy="{}" rx="{}" ry="{}" fill="{fill}"{extra}><title>{}{}</title></ellipse>"#,
                escape(rid),
                shape_side_label(zside),
                num(e.cx * w),
                num(e.cy * h),
                num(e.rx * w),
                num(e.ry * h),
                escape(region_name),
                side_word(zside),
            );
        }
        if view == t.chart.view {
            for &(x, y, dside) in &dots {
                let _ = write!(
                    s,
                    r##"<g class="point" data-side="{}"><circle cx="{x1}" cy="{y1}" r="15" fill="#ffffff" stroke="{POINT_FILL}" stroke-width="4"/><circle cx="{x1}" cy="{y1}" r="8" fill="{POINT_FILL}"/></g>"##,
                    shape_side_label(dside),
                    x1 = num(x * w),
                    y1 = num(y * h),
                );
            }
        }
        s.push_str("</g>");
    }

    // The legend, under the figures.
    let ly = HEADER_H + h + 20.0;
    let _ = write!(
        s,
        r#"<g class="legend" font-family="sans-serif" font-size="28" fill="{TEXT}" transform="translate(16 {ly})">"#
    );
    let _ = write!(
        s,
        r##"<circle cx="18" cy="18" r="15" fill="#ffffff" stroke="{POINT_FILL}" stroke-width="5"/><circle cx="18" cy="18" r="8" fill="{POINT_FILL}"/><text x="52" y="29">Trigger point</text>"##
    );
    let _ = write!(
        s,
        r#"<rect x="2" y="56" width="32" height="32" rx="8" fill="{PRIMARY_FILL}"/><text x="52" y="83">Main pain</text>"#
    );
    let _ = write!(
        s,
        r#"<rect x="2" y="110" width="32" height="32" rx="8" fill="{SPILLOVER_FILL}" stroke="{SPILLOVER_LINE}" stroke-width="2" stroke-dasharray="5 4"/><text x="52" y="137">May spread to</text>"#
    );
    s.push_str("</g></svg>");
    s
}

fn side_label(side: PictureSide) -> &'static str {
    match side {
        PictureSide::Right => "right",
        PictureSide::Left => "left",
        PictureSide::Both => "both",
    }
}

fn shape_side_label(side: ShapeSide) -> &'static str {
    match side {
        ShapeSide::Right => "right",
        ShapeSide::Left => "left",
        ShapeSide::Midline => "middle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixture;
    use crate::state::EMBEDDED_CATALOG;

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        match roxmltree::Document::parse(svg) {
            Ok(d) => d,
            Err(e) => panic!("not XML: {e}\n{svg}"),
        }
    }

    fn elements<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .collect()
    }

    #[test]
    fn every_picture_parses_and_is_accessible() {
        let c = Catalog::from_toml(EMBEDDED_CATALOG).expect("embedded catalog");
        for (i, t) in c.data().trigger_points.iter().enumerate() {
            for side in PictureSide::ALL {
                let svg = render(&c, i, side);
                let doc = parse(&svg);
                let root = doc.root_element();
                assert_eq!(root.tag_name().name(), "svg");
                assert_eq!(root.attribute("role"), Some("img"), "{}", t.id);
                let title = root.first_element_child().expect("a first child");
                assert_eq!(title.tag_name().name(), "title");
                assert!(
                    title.text().is_some_and(|x| x.contains(&t.name)),
                    "{}",
                    t.id
                );
                let desc = title.next_sibling_element().expect("desc");
                assert_eq!(desc.tag_name().name(), "desc");
                assert!(desc.text().is_some_and(|x| x.len() > 20));
                let labelled = root.attribute("aria-labelledby").unwrap_or_default();
                assert!(labelled.contains(title.attribute("id").unwrap_or("-")));
                assert!(
                    doc.descendants()
                        .any(|n| n.attribute("class") == Some("legend"))
                );
            }
        }
    }

    #[test]
    fn each_zone_is_drawn_with_its_kind() {
        let c = Catalog::from_toml(EMBEDDED_CATALOG).expect("embedded catalog");
        let d = c.data();
        for (i, t) in d.trigger_points.iter().enumerate() {
            let svg = render(&c, i, PictureSide::Both);
            let doc = parse(&svg);
            for r in &t.referrals {
                let class = match r.kind {
                    ReferralKind::Primary => "zone primary",
                    ReferralKind::Spillover => "zone spillover",
                };
                let drawn: Vec<_> = elements(&doc, class)
                    .into_iter()
                    .filter(|n| n.attribute("data-region") == Some(r.region.as_str()))
                    .collect();
                let region = &d.regions[c.region_index(&r.region).expect("known region")];
                let expected = if region.lateral { 2 } else { 1 };
                assert_eq!(drawn.len(), expected, "{} {}", t.id, r.region);
            }
            let zones =
                elements(&doc, "zone primary").len() + elements(&doc, "zone spillover").len();
            assert!(zones >= t.referrals.len(), "{}", t.id);
        }
    }

    #[track_caller]
    fn point_x(svg: &str) -> Vec<(String, f64)> {
        let doc = parse(svg);
        elements(&doc, "point")
            .into_iter()
            .map(|g| {
                let side = g.attribute("data-side").unwrap_or_default().to_owned();
                let circle = g.first_element_child().expect("a circle");
                let x: f64 = circle
                    .attribute("cx")
                    .and_then(|v| v.parse().ok())
                    .expect("cx");
                (side, x)
            })
            .collect()
    }

    #[test]
    fn the_left_side_mirrors_the_point_and_its_zones() {
        let c = fixture::catalog();
        let d = c.data();
        let i = d
            .trigger_points
            .iter()
            .position(|t| t.bilateral)
            .expect("a bilateral point");
        let t = &d.trigger_points[i];
        let w = c.body_map().width;
        let right = point_x(&render(&c, i, PictureSide::Right));
        let left = point_x(&render(&c, i, PictureSide::Left));
        let both = point_x(&render(&c, i, PictureSide::Both));
        assert_eq!(right.len(), 1);
        assert_eq!(left.len(), 1);
        assert_eq!(both.len(), 2);
        assert_eq!(right[0].0, "right");
        assert_eq!(left[0].0, "left");
        assert!((right[0].1 - num(t.chart.x * w)).abs() < 0.11);
        assert!((left[0].1 - num((1.0 - t.chart.x) * w)).abs() < 0.11);
        // Zones follow the side: none of the other side's lateral shapes.
        let left_svg = render(&c, i, PictureSide::Left);
        let doc = parse(&left_svg);
        assert!(
            doc.descendants()
                .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("zone")))
                .all(|n| n.attribute("data-side") != Some("right"))
        );
    }

    #[test]
    fn text_is_escaped() {
        let text = fixture::TOML.replacen(
            "name = \"Temple\"",
            "name = \"Temple <& \\\"quoted\\\" 'side'>\"",
            1,
        );
        let c = Catalog::from_toml(&text).expect("still valid");
        for i in 0..c.data().trigger_points.len() {
            let svg = render(&c, i, PictureSide::Both);
            parse(&svg);
        }
        check_escape("a<b>&\"'", "a&lt;b&gt;&amp;&quot;&apos;");
        check_escape("bell\u{7}", "bell");
        check_escape("Ä ok", "Ä ok");
    }

    #[track_caller]
    fn check_escape(input: &str, expected: &str) {
        assert_eq!(escape(input), expected);
    }
}
