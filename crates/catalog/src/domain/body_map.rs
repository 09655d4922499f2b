//! The body map: the figure's outline and where each region is drawn, front
//! and back, in the chart's normalized coordinates (`data/body_map.toml`
//! explains them).
//!
//! The map is part of the catalog's content (and so of its hash): a data file
//! may carry its own `[body_map]`; without one the built-in map applies,
//! restricted to the file's regions. [`check`] refuses a map where a region
//! has no shape or two, a shape is on the wrong view, or a lateral shape
//! reaches across the midline. [`BodyMap::build`] resolves the checked data
//! into what clients draw: the whole silhouette, its SVG path, and one shape
//! per side (the LEFT one mirrored from the RIGHT).

use std::collections::{HashMap, HashSet};

pub use super::model::{BodyMapData, Ellipse, OutlineData, ShapeData, ShapeSide};
use super::model::{Region, View};

/// The built-in body map.
pub const EMBEDDED_BODY_MAP: &str = include_str!("../../data/body_map.toml");

impl BodyMapData {
    /// True when the data file carried no body map.
    pub fn is_empty(&self) -> bool {
        self.outlines.is_empty() && self.shapes.is_empty()
    }

    /// The built-in map, keeping only the shapes of `regions`.
    pub fn embedded_for(regions: &[Region]) -> Result<Self, String> {
        let mut map: BodyMapData = toml::from_str(EMBEDDED_BODY_MAP)
            .map_err(|e| format!("the built-in body map does not parse: {e}"))?;
        let ids: HashSet<&str> = regions.iter().map(|r| r.id.as_str()).collect();
        map.shapes.retain(|s| ids.contains(s.region.as_str()));
        Ok(map)
    }
}

/// One drawable region shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Region index in the catalog.
    pub region: usize,
    /// The view it is drawn on.
    pub view: View,
    /// The side of the person.
    pub side: ShapeSide,
    /// The ellipse, in normalized coordinates.
    pub ellipse: Ellipse,
}

/// One view's outline, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Outline {
    /// Which view.
    pub view: View,
    /// The head.
    pub head: Ellipse,
    /// The whole silhouette, a closed loop (normalized).
    pub silhouette: Vec<[f64; 2]>,
    /// Lines drawn on the figure (normalized).
    pub guides: Vec<Vec<[f64; 2]>>,
    /// The silhouette as SVG path data in drawing units.
    pub path: String,
}

/// The checked body map, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyMap {
    /// Drawing width in user units.
    pub width: f64,
    /// Drawing height in user units.
    pub height: f64,
    /// Front then back.
    pub outlines: Vec<Outline>,
    /// Every region's shapes, in region order (RIGHT before LEFT).
    pub shapes: Vec<Shape>,
    /// Indexes into `shapes` of each region.
    pub region_shapes: Vec<Vec<usize>>,
}

/// True when the person's RIGHT side is on the image's left in `view`.
pub fn right_is_image_left(view: View) -> bool {
    view == View::Front
}

fn unit(v: f64) -> bool {
    v.is_finite() && (0.0..=1.0).contains(&v)
}

/// Checks a body map against the catalog's regions; returns
/// `(entry, message)` problems.
pub fn check(map: &BodyMapData, regions: &[Region]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut fail = |entry: String, message: String| problems.push((entry, message));
    if !(map.width.is_finite() && map.width > 0.0 && map.height.is_finite() && map.height > 0.0) {
        fail(
            "body_map".into(),
            "width and height must be positive".into(),
        );
    }
    for view in [View::Front, View::Back] {
        let n = map.outlines.iter().filter(|o| o.view == view).count();
        if n != 1 {
            fail(
                "body_map.outlines".into(),
                format!("needs exactly one {view:?} outline, has {n}"),
            );
        }
    }
    for o in &map.outlines {
        let e = format!("body_map.outlines[{:?}]", o.view);
        let h = o.head;
        if !(unit(h.cx) && unit(h.cy) && unit(h.rx) && unit(h.ry) && h.rx > 0.0 && h.ry > 0.0) {
            fail(e.clone(), "head must be an ellipse inside 0..1".into());
        }
        if o.half_silhouette.len() < 3 {
            fail(e.clone(), "half_silhouette needs at least 3 points".into());
        }
        let points = o.half_silhouette.iter().chain(o.guides.iter().flatten());
        if points.clone().any(|[x, y]| !(unit(*x) && unit(*y))) {
            fail(e.clone(), "every point must lie inside 0..1".into());
        }
        if o.half_silhouette.iter().any(|[x, _]| *x > 0.5) {
            fail(
                e.clone(),
                "half_silhouette must stay on the image's left half (x <= 0.5)".into(),
            );
        }
        if o.guides.iter().any(|g| g.len() < 2) {
            fail(e, "a guide needs at least 2 points".into());
        }
    }
    let by_id: HashMap<&str, &Region> = regions.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut seen = HashSet::new();
    for s in &map.shapes {
        let e = format!("body_map.shapes[{}]", s.region);
        let Some(r) = by_id.get(s.region.as_str()) else {
            fail(e, format!("refers to unknown region \"{}\"", s.region));
            continue;
        };
        if !seen.insert(s.region.as_str()) {
            fail(e.clone(), "the region has two shapes".into());
        }
        if s.view != r.view {
            fail(
                e.clone(),
                format!(
                    "is on the {:?} view but the region is on the {:?} view",
                    s.view, r.view
                ),
            );
        }
        let el = s.ellipse();
        if !(unit(el.cx) && unit(el.cy) && unit(el.rx) && unit(el.ry) && el.rx > 0.0 && el.ry > 0.0)
        {
            fail(e.clone(), "must be an ellipse inside 0..1".into());
            continue;
        }
        if r.lateral {
            // The RIGHT side's shape, wholly on that side's half, so the
            // mirrored LEFT one never overlaps it.
            let on_right_half = if right_is_image_left(s.view) {
                el.cx + el.rx <= 0.5
            } else {
                el.cx - el.rx >= 0.5
            };
            if !on_right_half {
                fail(
                    e,
                    "a lateral region's shape is the person's RIGHT side and must not reach \
                     across the midline"
                        .into(),
                );
            }
        } else if (el.cx - 0.5).abs() > 1e-9 {
            fail(
                e,
                "a midline region's shape must be centred on x = 0.5".into(),
            );
        }
    }
    for r in regions {
        if !seen.contains(r.id.as_str()) {
            fail(
                format!("regions[{}]", r.id),
                "has no shape in the body map".into(),
            );
        }
    }
    problems
}

/// Catmull-Rom through a closed loop of points, as SVG cubic Bezier path
/// data (one decimal), after scaling by `w` and `h`.
pub fn smooth_closed_path(points: &[[f64; 2]], w: f64, h: f64) -> String {
    use std::fmt::Write;
    let n = points.len();
    if n < 3 {
        return String::new();
    }
    let p = |i: isize| {
        let [x, y] = points[i.rem_euclid(n as isize) as usize];
        (x * w, y * h)
    };
    let f = |v: f64| (v * 10.0).round() / 10.0;
    let mut d = String::with_capacity(n * 40);
    let (x0, y0) = p(0);
    let _ = write!(d, "M{},{}", f(x0), f(y0));
    for i in 0..n as isize {
        let (ax, ay) = p(i - 1);
        let (bx, by) = p(i);
        let (cx, cy) = p(i + 1);
        let (dx, dy) = p(i + 2);
        let _ = write!(
            d,
            " C{},{} {},{} {},{}",
            f(bx + (cx - ax) / 6.0),
            f(by + (cy - ay) / 6.0),
            f(cx - (dx - bx) / 6.0),
            f(cy - (dy - by) / 6.0),
            f(cx),
            f(cy)
        );
    }
    d.push_str(" Z");
    d
}

impl BodyMap {
    /// Resolves a checked map ([`check`] found no problems).
    pub fn build(map: &BodyMapData, regions: &[Region]) -> Self {
        let mut outlines: Vec<Outline> = map
            .outlines
            .iter()
            .map(|o| {
                // The image's left half, then the mirrored right half back
                // up, without repeating the midline point where they meet.
                let mut silhouette = o.half_silhouette.clone();
                let last_on_midline = o
                    .half_silhouette
                    .last()
                    .is_some_and(|[x, _]| (x - 0.5).abs() < 1e-9);
                let skip = usize::from(last_on_midline);
                silhouette.extend(
                    o.half_silhouette
                        .iter()
                        .rev()
                        .skip(skip)
                        .map(|[x, y]| [1.0 - x, *y]),
                );
                let path = smooth_closed_path(&silhouette, map.width, map.height);
                Outline {
                    view: o.view,
                    head: o.head,
                    silhouette,
                    guides: o.guides.clone(),
                    path,
                }
            })
            .collect();
        outlines.sort_by_key(|o| o.view == View::Back);
        let index: HashMap<&str, usize> = regions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let by_region: HashMap<&str, &ShapeData> =
            map.shapes.iter().map(|s| (s.region.as_str(), s)).collect();
        let mut shapes = Vec::with_capacity(regions.len() * 2);
        let mut region_shapes = vec![Vec::new(); regions.len()];
        for r in regions {
            let (Some(s), Some(&i)) = (by_region.get(r.id.as_str()), index.get(r.id.as_str()))
            else {
                continue;
            };
            let el = s.ellipse();
            let sides: &[(ShapeSide, Ellipse)] = if r.lateral {
                &[(ShapeSide::Right, el), (ShapeSide::Left, el.mirrored())]
            } else {
                &[(ShapeSide::Midline, el)]
            };
            for &(side, ellipse) in sides {
                region_shapes[i].push(shapes.len());
                shapes.push(Shape {
                    region: i,
                    view: s.view,
                    side,
                    ellipse,
                });
            }
        }
        Self {
            width: map.width,
            height: map.height,
            outlines,
            shapes,
            region_shapes,
        }
    }

    /// The outline of `view`.
    pub fn outline(&self, view: View) -> Option<&Outline> {
        self.outlines.iter().find(|o| o.view == view)
    }

    /// The shapes of a region.
    pub fn shapes_of(&self, region: usize) -> impl Iterator<Item = &Shape> {
        self.region_shapes
            .get(region)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.shapes.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixture;

    fn data() -> (BodyMapData, Vec<Region>) {
        let c = fixture::catalog();
        (c.data().body_map.clone(), c.data().regions.clone())
    }

    #[track_caller]
    fn check_problem(edit: impl FnOnce(&mut BodyMapData), expected: &str) {
        let (mut map, regions) = data();
        edit(&mut map);
        let problems = check(&map, &regions);
        assert!(
            problems
                .iter()
                .any(|(e, m)| format!("{e}: {m}").contains(expected)),
            "expected {expected:?} in {problems:?}"
        );
    }

    #[test]
    fn the_embedded_map_covers_the_embedded_catalog() {
        let c = crate::domain::Catalog::from_toml(crate::state::EMBEDDED_CATALOG)
            .expect("embedded catalog");
        let d = c.data();
        assert!(check(&d.body_map, &d.regions).is_empty());
        assert_eq!(d.body_map.shapes.len(), d.regions.len());
        let m = c.body_map();
        for (i, r) in d.regions.iter().enumerate() {
            let shapes: Vec<_> = m.shapes_of(i).collect();
            assert_eq!(shapes.len(), if r.lateral { 2 } else { 1 }, "{}", r.id);
            assert!(shapes.iter().all(|s| s.view == r.view), "{}", r.id);
        }
    }

    #[test]
    fn lateral_shapes_are_mirrored_about_the_midline() {
        let c = fixture::catalog();
        let m = c.body_map();
        for (i, r) in c.data().regions.iter().enumerate() {
            let shapes: Vec<_> = m.shapes_of(i).collect();
            if !r.lateral {
                assert_eq!(shapes[0].side, ShapeSide::Midline);
                continue;
            }
            let (right, left) = (shapes[0], shapes[1]);
            assert_eq!((right.side, left.side), (ShapeSide::Right, ShapeSide::Left));
            assert!((right.ellipse.cx + left.ellipse.cx - 1.0).abs() < 1e-12);
            assert_eq!(right.ellipse.cy, left.ellipse.cy);
            // Front: the person's right is on the image's left.
            assert_eq!(
                right.ellipse.cx < 0.5,
                right_is_image_left(r.view),
                "{}",
                r.id
            );
        }
    }

    #[test]
    fn the_silhouette_is_symmetric_and_closed() {
        let m = fixture::catalog().body_map().clone();
        assert_eq!(m.outlines.len(), 2);
        assert_eq!(m.outlines[0].view, View::Front);
        for o in &m.outlines {
            // Every point's mirror is on the loop too.
            for [x, y] in &o.silhouette {
                assert!(
                    o.silhouette
                        .iter()
                        .any(|[a, b]| (a + x - 1.0).abs() < 1e-9 && (b - y).abs() < 1e-9),
                    "{x},{y}"
                );
            }
            assert!(o.path.starts_with('M') && o.path.ends_with('Z'));
        }
    }

    #[test]
    fn check_table() {
        check_problem(
            |m| m.shapes.retain(|s| s.region != "temple"),
            "regions[temple]: has no shape",
        );
        check_problem(
            |m| {
                let s = m.shapes[0].clone();
                m.shapes.push(s);
            },
            "has two shapes",
        );
        check_problem(
            |m| {
                m.shapes.iter_mut().for_each(|s| {
                    if s.region == "temple" {
                        s.view = View::Back;
                    }
                })
            },
            "shapes[temple]: is on the Back view",
        );
        check_problem(
            |m| {
                m.shapes.iter_mut().for_each(|s| {
                    if s.region == "temple" {
                        s.cx = 0.495;
                    }
                })
            },
            "shapes[temple]: a lateral region's shape",
        );
        check_problem(
            |m| {
                m.shapes.iter_mut().for_each(|s| {
                    if s.region == "sacrum" {
                        s.cx = 0.52;
                    }
                })
            },
            "centred on x = 0.5",
        );
        check_problem(
            |m| m.shapes[0].region = "nowhere".into(),
            "unknown region \"nowhere\"",
        );
        check_problem(|m| drop(m.outlines.pop()), "needs exactly one Back outline");
        check_problem(
            |m| m.outlines[0].half_silhouette[0] = [0.7, 0.1],
            "x <= 0.5",
        );
        check_problem(|m| m.shapes[0].rx = f64::NAN, "inside 0..1");
        check_problem(|m| m.width = 0.0, "positive");
    }
}
