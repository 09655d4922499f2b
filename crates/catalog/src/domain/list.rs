//! Filtered listings. Each returns indexes in file order; pagination and the
//! query fingerprint for page tokens are the caller's next step.

use super::Catalog;
use super::model::View;

/// Regions on `view` (if given) in `area` (if given, case-insensitive).
pub fn regions(catalog: &Catalog, view: Option<View>, area: Option<&str>) -> Vec<usize> {
    catalog
        .data()
        .regions
        .iter()
        .enumerate()
        .filter(|(_, r)| view.is_none_or(|v| r.view == v))
        .filter(|(_, r)| area.is_none_or(|a| r.area.eq_ignore_ascii_case(a.trim())))
        .map(|(i, _)| i)
        .collect()
}

/// Muscles lying in `region` (if given) that `tool` suits (if given).
pub fn muscles(catalog: &Catalog, region: Option<usize>, tool: Option<usize>) -> Vec<usize> {
    let data = catalog.data();
    (0..data.muscles.len())
        .filter(|&m| region.is_none_or(|r| data.muscles[m].region == data.regions[r].id))
        .filter(|&m| tool.is_none_or(|t| catalog.muscles_for_tool(t).contains(&m)))
        .collect()
}

/// Trigger points lying in `region`, of `muscle`, workable with `tool` (each
/// if given).
pub fn trigger_points(
    catalog: &Catalog,
    region: Option<usize>,
    muscle: Option<usize>,
    tool: Option<usize>,
) -> Vec<usize> {
    let data = catalog.data();
    (0..data.trigger_points.len())
        .filter(|&p| region.is_none_or(|r| data.trigger_points[p].region == data.regions[r].id))
        .filter(|&p| muscle.is_none_or(|m| data.trigger_points[p].muscle == data.muscles[m].id))
        .filter(|&p| tool.is_none_or(|t| catalog.tools_of_point(p).contains(&t)))
        .collect()
}

/// Tools that suit `muscle` (if given).
pub fn tools(catalog: &Catalog, muscle: Option<usize>) -> Vec<usize> {
    match muscle {
        Some(m) => catalog.tools_for_muscle(m).to_vec(),
        None => (0..catalog.data().tools.len()).collect(),
    }
}

/// Guides teaching `tool` (if given), in reading order.
pub fn guides(catalog: &Catalog, tool: Option<usize>) -> Vec<usize> {
    match tool {
        Some(t) => catalog.guides_of_tool(t).to_vec(),
        None => (0..catalog.data().guides.len()).collect(),
    }
}

/// Whether `area` is one of the catalog's areas (case-insensitive).
pub fn is_area(area: &str) -> bool {
    super::model::AREAS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(area.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixture;

    fn ids(c: &Catalog, table: &str, idx: Vec<usize>) -> Vec<String> {
        let d = c.data();
        idx.into_iter()
            .map(|i| match table {
                "regions" => d.regions[i].id.clone(),
                "muscles" => d.muscles[i].id.clone(),
                "points" => d.trigger_points[i].id.clone(),
                _ => d.tools[i].id.clone(),
            })
            .collect()
    }

    #[test]
    fn filters_table() {
        let c = fixture::catalog();
        let r = |id| c.region_index(id);
        let m = |id| c.muscle_index(id);
        let t = |id| c.tool_index(id);
        let check = |got: Vec<String>, want: &[&str]| assert_eq!(got, want);
        check(
            ids(&c, "regions", regions(&c, None, Some("low BACK"))),
            &["low_back", "sacrum"],
        );
        check(
            ids(
                &c,
                "regions",
                regions(&c, Some(View::Front), Some("Hips and buttocks")),
            ),
            &["groin"],
        );
        check(
            ids(&c, "muscles", muscles(&c, r("buttock"), None)),
            &["gluteus_minimus", "piriformis"],
        );
        check(
            ids(&c, "muscles", muscles(&c, None, t("ql_claw"))),
            &["quadratus_lumborum"],
        );
        check(
            ids(&c, "muscles", muscles(&c, r("buttock"), t("ql_claw"))),
            &[],
        );
        check(
            ids(
                &c,
                "points",
                trigger_points(&c, None, m("quadratus_lumborum"), t("lacrosse_ball")),
            ),
            &["quadratus_lumborum_1"],
        );
        check(
            ids(&c, "tools", tools(&c, m("sternocleidomastoid"))),
            &["fingers"],
        );
        assert_eq!(tools(&c, None).len(), c.data().tools.len());
        assert!(is_area("legs") && !is_area("tail"));
    }
}
