//! The validated catalog: the data file's content plus the indexes every read
//! needs, built once per version so requests never re-scan or re-check.
//!
//! [`Catalog::from_toml`] is the only way in: it parses (unknown fields
//! denied), validates every rule below and computes the content hash. A
//! catalog that exists is a whole, consistent catalog.

use std::collections::{HashMap, HashSet};
use std::fmt;

use sha2::{Digest, Sha256};

use super::body_map::{self, BodyMap};
use super::model::*;
use super::search::SearchIndex;
use super::text::Vocabulary;

mod check;

use check::{
    Checker, Places, Refs, check_guidance, check_guide, check_hold, check_limits, check_point,
};

/// One problem in the data file, naming the entry it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The entry, e.g. `trigger_points[ql_superficial]`.
    pub entry: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.entry, self.message)
    }
}

/// Why a data file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The file is not valid TOML for the schema (the message names the
    /// line and key).
    #[error("catalog data file does not parse: {0}")]
    Parse(String),
    /// The file parsed but breaks the catalog's rules.
    #[error("catalog data file is invalid: {}", join(.0))]
    Invalid(Vec<Problem>),
}

impl CatalogError {
    /// The problems, one line each (a parse error is one problem).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            CatalogError::Parse(m) => vec![Problem {
                entry: "file".into(),
                message: m.clone(),
            }],
            CatalogError::Invalid(p) => p.clone(),
        }
    }
}

fn join(problems: &[Problem]) -> String {
    const SHOWN: usize = 10;
    let mut s = problems
        .iter()
        .take(SHOWN)
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        s.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    s
}

/// A validated, indexed catalog version.
#[derive(Debug, Clone)]
pub struct Catalog {
    data: CatalogData,
    version: String,
    pub(crate) regions: HashMap<String, usize>,
    pub(crate) muscles: HashMap<String, usize>,
    pub(crate) points: HashMap<String, usize>,
    pub(crate) tools: HashMap<String, usize>,
    pub(crate) symptoms: HashMap<String, usize>,
    pub(crate) red_flags: HashMap<String, usize>,
    pub(crate) guides: HashMap<String, usize>,
    /// Guide indexes linked from each trigger point: the `every_point`
    /// guides, then those teaching one of its techniques' tools.
    pub(crate) point_guides: Vec<Vec<usize>>,
    /// Guide indexes teaching each tool, file order.
    pub(crate) tool_guides: Vec<Vec<usize>>,
    /// Trigger point indexes of each muscle, in file order.
    pub(crate) muscle_points: Vec<Vec<usize>>,
    /// Muscle indexes each tool suits (derived from techniques), file order.
    pub(crate) tool_muscles: Vec<Vec<usize>>,
    /// Tool indexes that suit each muscle, file order.
    pub(crate) muscle_tools: Vec<Vec<usize>>,
    /// Tool indexes of each trigger point's techniques.
    pub(crate) point_tools: Vec<Vec<usize>>,
    /// Per trigger point, the conditions whose region or point limits rule
    /// it out: (contraindication index, reason), data order.
    pub(crate) point_condition_limits: Vec<Vec<(usize, String)>>,
    pub(crate) region_vocab: Vocabulary,
    pub(crate) symptom_vocab: Vocabulary,
    pub(crate) search: SearchIndex,
    body_map: BodyMap,
}

fn is_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Indexes the ids of one table, reporting malformed and duplicate ids.
fn index<'a>(
    table: &str,
    ids: impl Iterator<Item = &'a str>,
    problems: &mut Vec<Problem>,
) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for (i, id) in ids.enumerate() {
        let entry = format!("{table}[{id}]");
        if !is_id(id) {
            problems.push(Problem {
                entry,
                message: "id must be lower_snake_case ASCII (a-z, 0-9, _), 1-63 characters".into(),
            });
        } else if map.insert(id.to_owned(), i).is_some() {
            problems.push(Problem {
                entry,
                message: format!("duplicate id \"{id}\""),
            });
        }
    }
    map
}

impl Catalog {
    /// Parses, validates and indexes a data file.
    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        let data: CatalogData =
            toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        Self::from_data(data)
    }

    /// Parses the chart data file and the guides file, merges the guides in
    /// and validates the whole: the guides are part of the version.
    pub fn from_files(catalog: &str, guides: &str) -> Result<Self, CatalogError> {
        let mut data: CatalogData =
            toml::from_str(catalog).map_err(|e| CatalogError::Parse(e.to_string()))?;
        let file: GuidesFile =
            toml::from_str(guides).map_err(|e| CatalogError::Parse(format!("guides file: {e}")))?;
        data.guides.extend(file.guides);
        Self::from_data(data)
    }

    /// Parses, validates and indexes the canonical JSON encoding (the form the
    /// store keeps).
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, CatalogError> {
        let data: CatalogData =
            serde_json::from_slice(bytes).map_err(|e| CatalogError::Parse(e.to_string()))?;
        Self::from_data(data)
    }

    /// The canonical encoding: JSON of the parsed data, fields in schema order,
    /// entries in file order. Comments and formatting of the TOML file do not
    /// change it, so they do not change the version.
    pub fn canonical(&self) -> Vec<u8> {
        canonical(&self.data)
    }

    /// Validates and indexes parsed data.
    pub fn from_data(mut data: CatalogData) -> Result<Self, CatalogError> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        if data.body_map.is_empty() {
            match BodyMapData::embedded_for(&data.regions) {
                Ok(map) => data.body_map = map,
                Err(message) => c.fail("body_map", message),
            }
        }
        for (entry, message) in body_map::check(&data.body_map, &data.regions) {
            c.fail(&entry, message);
        }
        let p = &mut c.problems;
        let sources = index("sources", data.sources.iter().map(|x| x.id.as_str()), p);
        let symptoms = index("symptoms", data.symptoms.iter().map(|x| x.id.as_str()), p);
        let red_flags = index("red_flags", data.red_flags.iter().map(|x| x.id.as_str()), p);
        let contras = index(
            "contraindications",
            data.contraindications.iter().map(|x| x.id.as_str()),
            p,
        );
        let regions = index("regions", data.regions.iter().map(|x| x.id.as_str()), p);
        let tools = index("tools", data.tools.iter().map(|x| x.id.as_str()), p);
        let muscles = index("muscles", data.muscles.iter().map(|x| x.id.as_str()), p);
        let points = index(
            "trigger_points",
            data.trigger_points.iter().map(|x| x.id.as_str()),
            p,
        );
        let guides = index("guides", data.guides.iter().map(|x| x.id.as_str()), p);

        c.text("meta", "title", &data.meta.title);
        c.text("meta", "edition", &data.meta.edition);
        check_guidance(&mut c, &data.guidance, &sources);
        for s in &data.sources {
            let e = format!("sources[{}]", s.id);
            c.text(&e, "title", &s.title);
        }
        for s in &data.symptoms {
            let e = format!("symptoms[{}]", s.id);
            c.text(&e, "name", &s.name);
            c.references(&e, "red_flags", &s.red_flags, "red flag", &red_flags);
        }
        for f in &data.red_flags {
            let e = format!("red_flags[{}]", f.id);
            c.text(&e, "name", &f.name);
            c.text(&e, "advice", &f.advice);
            c.references(&e, "sources", &f.sources, "source", &sources);
            if f.sources.is_empty() {
                c.fail(&e, "needs at least one source");
            }
        }
        for x in &data.contraindications {
            let e = format!("contraindications[{}]", x.id);
            c.text(&e, "name", &x.name);
            c.text(&e, "guidance", &x.guidance);
            if x.kind == ContraindicationKind::Condition
                && x.screening_question
                    .as_deref()
                    .is_none_or(|q| q.trim().is_empty())
            {
                c.fail(&e, "a CONDITION needs a screening_question");
            }
            c.references(&e, "sources", &x.sources, "source", &sources);
            if x.sources.is_empty() {
                c.fail(&e, "needs at least one source");
            }
            check_limits(
                &mut c,
                &e,
                x,
                &data.guidance,
                &Places {
                    regions: &regions,
                    points: &points,
                    tools: &tools,
                },
            );
        }
        for r in &data.regions {
            let e = format!("regions[{}]", r.id);
            c.text(&e, "name", &r.name);
            if !AREAS.contains(&r.area.as_str()) {
                c.fail(
                    &e,
                    format!("area \"{}\" is not one of: {}", r.area, AREAS.join(", ")),
                );
            }
            c.references(&e, "red_flags", &r.red_flags, "red flag", &red_flags);
            if let Some(p) = r.max_safe_pressure
                && !(1..=data.guidance.max_safe_pressure).contains(&p)
            {
                c.fail(
                    &e,
                    format!(
                        "max_safe_pressure {p} must be 1..={} (the guidance's ceiling)",
                        data.guidance.max_safe_pressure
                    ),
                );
            }
            check_hold(&mut c, &e, r.max_hold_seconds, &data.guidance);
        }
        for t in &data.trigger_points {
            let e = format!("trigger_points[{}]", t.id);
            check_hold(&mut c, &e, t.max_hold_seconds, &data.guidance);
        }
        for t in &data.tools {
            let e = format!("tools[{}]", t.id);
            c.text(&e, "name", &t.name);
            c.text(&e, "how_to_use", &t.how_to_use);
        }
        for m in &data.muscles {
            let e = format!("muscles[{}]", m.id);
            c.text(&e, "name", &m.name);
            c.reference(&e, "region", &m.region, "region", &regions);
            c.references(&e, "sources", &m.sources, "source", &sources);
        }
        for t in &data.trigger_points {
            check_point(
                &mut c,
                t,
                &Refs {
                    regions: &regions,
                    muscles: &muscles,
                    tools: &tools,
                    symptoms: &symptoms,
                    sources: &sources,
                    contras: &contras,
                    contraindications: &data.contraindications,
                    tool_data: &data.tools,
                },
            );
        }
        for g in &data.guides {
            check_guide(&mut c, g, &tools, &sources);
        }
        // Every muscle needs at least one point: a muscle with none could
        // never be found by pain, which would be half a chart.
        let mut muscle_points = vec![Vec::new(); data.muscles.len()];
        for (i, t) in data.trigger_points.iter().enumerate() {
            if let Some(&m) = muscles.get(&t.muscle) {
                muscle_points[m].push(i);
            }
        }
        for (m, pts) in data.muscles.iter().zip(&muscle_points) {
            if pts.is_empty() {
                c.fail(&format!("muscles[{}]", m.id), "has no trigger points");
            }
        }

        // Vocabularies: a phrase that names two regions (or two symptoms)
        // would make resolution ambiguous.
        let entries: Vec<_> = data
            .regions
            .iter()
            .map(|r| (r.id.as_str(), r.name.as_str(), r.synonyms.as_slice()))
            .collect();
        let region_vocab = c.vocabulary("regions", "region", &entries);
        let entries: Vec<_> = data
            .symptoms
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str(), s.synonyms.as_slice()))
            .collect();
        let symptom_vocab = c.vocabulary("symptoms", "symptom", &entries);

        if !c.problems.is_empty() {
            return Err(CatalogError::Invalid(c.problems));
        }

        // Derived relations: which tools suit which muscles.
        let mut point_tools = Vec::with_capacity(data.trigger_points.len());
        let mut tool_muscle_set = vec![HashSet::new(); data.tools.len()];
        for t in &data.trigger_points {
            let ids: Vec<usize> = t
                .techniques
                .iter()
                .filter_map(|x| tools.get(&x.tool).copied())
                .collect();
            if let Some(&m) = muscles.get(&t.muscle) {
                for &tool in &ids {
                    tool_muscle_set[tool].insert(m);
                }
            }
            point_tools.push(ids);
        }
        let mut tool_muscles = Vec::with_capacity(data.tools.len());
        let mut muscle_tools = vec![Vec::new(); data.muscles.len()];
        for (tool, set) in tool_muscle_set.iter().enumerate() {
            let mut ms: Vec<usize> = set.iter().copied().collect();
            ms.sort_unstable();
            for &m in &ms {
                muscle_tools[m].push(tool);
            }
            tool_muscles.push(ms);
        }

        let mut tool_guides = vec![Vec::new(); data.tools.len()];
        for (gi, g) in data.guides.iter().enumerate() {
            for t in &g.tools {
                if let Some(&ti) = tools.get(t) {
                    tool_guides[ti].push(gi);
                }
            }
        }
        let basics: Vec<usize> = (0..data.guides.len())
            .filter(|&gi| data.guides[gi].every_point)
            .collect();
        let point_guides = point_tools
            .iter()
            .map(|ts: &Vec<usize>| {
                let mut gs = basics.clone();
                for &t in ts {
                    for &g in &tool_guides[t] {
                        if !gs.contains(&g) {
                            gs.push(g);
                        }
                    }
                }
                gs
            })
            .collect();

        // Conditions that rule points out by region or by id, folded onto
        // each point so every reader applies them like a point's own
        // excluded_conditions.
        let mut point_condition_limits = vec![Vec::new(); data.trigger_points.len()];
        for (ci, x) in data.contraindications.iter().enumerate() {
            for (pi, t) in data.trigger_points.iter().enumerate() {
                let why = x
                    .excluded_points
                    .iter()
                    .find(|l| l.id == t.id)
                    .or_else(|| x.excluded_regions.iter().find(|l| l.id == t.region));
                if let Some(l) = why
                    && !t.excluded_conditions.iter().any(|e| e.condition == x.id)
                {
                    point_condition_limits[pi].push((ci, l.reason.clone()));
                }
            }
        }

        let version = hex::encode(Sha256::digest(canonical(&data)));
        let search = SearchIndex::build(&data);
        let body_map = BodyMap::build(&data.body_map, &data.regions);
        Ok(Catalog {
            data,
            version,
            regions,
            muscles,
            points,
            tools,
            symptoms,
            red_flags,
            guides,
            point_guides,
            tool_guides,
            muscle_points,
            tool_muscles,
            muscle_tools,
            point_tools,
            point_condition_limits,
            region_vocab,
            symptom_vocab,
            search,
            body_map,
        })
    }

    /// The body map, resolved for drawing.
    pub fn body_map(&self) -> &BodyMap {
        &self.body_map
    }

    /// The content hash (hex SHA-256 of the canonical encoding).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The validated content.
    pub fn data(&self) -> &CatalogData {
        &self.data
    }

    /// Index of a region by id.
    pub fn region_index(&self, id: &str) -> Option<usize> {
        self.regions.get(id).copied()
    }

    /// Index of a muscle by id.
    pub fn muscle_index(&self, id: &str) -> Option<usize> {
        self.muscles.get(id).copied()
    }

    /// Index of a trigger point by id.
    pub fn point_index(&self, id: &str) -> Option<usize> {
        self.points.get(id).copied()
    }

    /// Index of a tool by id.
    pub fn tool_index(&self, id: &str) -> Option<usize> {
        self.tools.get(id).copied()
    }

    /// Index of a red flag by id.
    pub fn red_flag_index(&self, id: &str) -> Option<usize> {
        self.red_flags.get(id).copied()
    }

    /// Index of a guide by id.
    pub fn guide_index(&self, id: &str) -> Option<usize> {
        self.guides.get(id).copied()
    }

    /// Guide indexes linked from a trigger point.
    pub fn guides_of_point(&self, point: usize) -> &[usize] {
        self.point_guides.get(point).map_or(&[], Vec::as_slice)
    }

    /// Guide indexes teaching a tool.
    pub fn guides_of_tool(&self, tool: usize) -> &[usize] {
        self.tool_guides.get(tool).map_or(&[], Vec::as_slice)
    }

    /// Index of a symptom by id.
    pub fn symptom_index(&self, id: &str) -> Option<usize> {
        self.symptoms.get(id).copied()
    }

    /// Trigger point indexes of a muscle.
    pub fn points_of_muscle(&self, muscle: usize) -> &[usize] {
        self.muscle_points.get(muscle).map_or(&[], Vec::as_slice)
    }

    /// Muscle indexes a tool suits (some technique of one of the muscle's
    /// points uses it).
    pub fn muscles_for_tool(&self, tool: usize) -> &[usize] {
        self.tool_muscles.get(tool).map_or(&[], Vec::as_slice)
    }

    /// Tool indexes that suit a muscle.
    pub fn tools_for_muscle(&self, muscle: usize) -> &[usize] {
        self.muscle_tools.get(muscle).map_or(&[], Vec::as_slice)
    }

    /// Free-text search, best first (`kinds` empty means every kind).
    pub fn search(&self, query: &str, kinds: &[super::search::Kind]) -> Vec<super::search::Hit> {
        self.search.search(query, kinds)
    }

    /// Tool indexes of a trigger point's techniques.
    pub fn tools_of_point(&self, point: usize) -> &[usize] {
        self.point_tools.get(point).map_or(&[], Vec::as_slice)
    }

    /// Every condition that rules a trigger point out: its own
    /// `excluded_conditions`, then the conditions whose region or point
    /// limits cover it, as (contraindication id, reason).
    pub fn point_excluded_conditions(&self, point: usize) -> Vec<(&str, &str)> {
        let d = &self.data;
        let Some(t) = d.trigger_points.get(point) else {
            return Vec::new();
        };
        t.excluded_conditions
            .iter()
            .map(|x| (x.condition.as_str(), x.reason.as_str()))
            .chain(
                self.point_condition_limits
                    .get(point)
                    .into_iter()
                    .flatten()
                    .map(|(ci, why)| (d.contraindications[*ci].id.as_str(), why.as_str())),
            )
            .collect()
    }

    /// The highest pressure advised on a trigger point: the guidance's
    /// ceiling, or the lower one of the region the point lies in.
    pub fn point_max_pressure(&self, point: usize) -> i32 {
        let d = &self.data;
        let g = d.guidance.max_safe_pressure;
        d.trigger_points
            .get(point)
            .and_then(|t| self.region_index(&t.region))
            .and_then(|r| d.regions[r].max_safe_pressure)
            .map_or(g, |r| r.min(g))
    }

    /// The longest hold advised on a trigger point, in seconds: the
    /// guidance's `max_duration_seconds`, or the shorter limit of the point
    /// or of the region it lies in (the belly).
    pub fn point_max_hold(&self, point: usize) -> i32 {
        let d = &self.data;
        let Some(t) = d.trigger_points.get(point) else {
            return d.guidance.max_duration_seconds;
        };
        let region = self
            .region_index(&t.region)
            .and_then(|r| d.regions[r].max_hold_seconds);
        [
            Some(d.guidance.max_duration_seconds),
            region,
            t.max_hold_seconds,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(d.guidance.max_duration_seconds)
    }
}

fn canonical(data: &CatalogData) -> Vec<u8> {
    // Serialising plain structs of strings, numbers and vectors cannot fail.
    serde_json::to_vec(data).unwrap_or_default()
}

#[cfg(test)]
mod tests;
