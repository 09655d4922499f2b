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

/// Whether `area` is one of the catalog's areas (case-insensitive).
pub fn is_area(area: &str) -> bool {
    super::model::AREAS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(area.trim()))
}
