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

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn fail(&mut self, entry: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            entry: entry.to_owned(),
            message: message.into(),
        });
    }

    fn reference(
        &mut self,
        entry: &str,
        field: &str,
        id: &str,
        table: &str,
        map: &HashMap<String, usize>,
    ) {
        if !map.contains_key(id) {
            self.fail(entry, format!("{field} refers to unknown {table} \"{id}\""));
        }
    }

    fn references(
        &mut self,
        entry: &str,
        field: &str,
        ids: &[String],
        table: &str,
        map: &HashMap<String, usize>,
    ) {
        let mut seen = HashSet::new();
        for id in ids {
            self.reference(entry, field, id, table, map);
            if !seen.insert(id.as_str()) {
                self.fail(entry, format!("{field} lists \"{id}\" twice"));
            }
        }
    }

    fn text(&mut self, entry: &str, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(entry, format!("{field} must not be empty"));
        }
    }
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
        let mut region_vocab = Vocabulary::default();
        for (i, r) in data.regions.iter().enumerate() {
            for phrase in std::iter::once(&r.id)
                .chain(std::iter::once(&r.name))
                .chain(&r.synonyms)
            {
                if let Err(col) = region_vocab.add(i, phrase) {
                    let other = &data.regions[col.first].id;
                    c.fail(
                        &format!("regions[{}]", r.id),
                        format!("\"{phrase}\" already names region \"{other}\""),
                    );
                }
            }
        }
        let mut symptom_vocab = Vocabulary::default();
        for (i, s) in data.symptoms.iter().enumerate() {
            for phrase in std::iter::once(&s.id)
                .chain(std::iter::once(&s.name))
                .chain(&s.synonyms)
            {
                if let Err(col) = symptom_vocab.add(i, phrase) {
                    let other = &data.symptoms[col.first].id;
                    c.fail(
                        &format!("symptoms[{}]", s.id),
                        format!("\"{phrase}\" already names symptom \"{other}\""),
                    );
                }
            }
        }

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

struct Places<'a> {
    regions: &'a HashMap<String, usize>,
    points: &'a HashMap<String, usize>,
    tools: &'a HashMap<String, usize>,
}

/// The screening effect and limits of one contraindication.
fn check_limits(c: &mut Checker, e: &str, x: &Contraindication, g: &Guidance, p: &Places<'_>) {
    let has_limits = !x.excluded_regions.is_empty()
        || !x.excluded_points.is_empty()
        || !x.excluded_tools.is_empty()
        || x.max_pressure_until_cleared.is_some();
    if x.kind == ContraindicationKind::Location {
        if x.effect != ScreeningEffect::RulesOut || has_limits {
            c.fail(e, "a LOCATION takes no effect or limits");
        }
        return;
    }
    match (x.effect, x.max_pressure_until_cleared) {
        (ScreeningEffect::RulesOut, Some(_)) => c.fail(
            e,
            "max_pressure_until_cleared only applies to a LIMITS condition",
        ),
        (ScreeningEffect::Limits, None) => c.fail(
            e,
            "a LIMITS condition needs max_pressure_until_cleared (it advises a provider before firm pressure)",
        ),
        (_, Some(v)) if !(1..=g.target_pressure).contains(&v) => c.fail(
            e,
            format!(
                "max_pressure_until_cleared {v} must be 1..={} (the target pressure)",
                g.target_pressure
            ),
        ),
        _ => {}
    }
    for (field, list, table, map) in [
        ("excluded_regions", &x.excluded_regions, "region", p.regions),
        (
            "excluded_points",
            &x.excluded_points,
            "trigger point",
            p.points,
        ),
    ] {
        let ids: Vec<String> = list.iter().map(|l| l.id.clone()).collect();
        c.references(e, field, &ids, table, map);
        for l in list {
            c.text(e, &format!("{field}.reason"), &l.reason);
        }
    }
    let tools: Vec<String> = x.excluded_tools.iter().map(|t| t.tool.clone()).collect();
    c.references(e, "excluded_tools", &tools, "tool", p.tools);
    for t in &x.excluded_tools {
        c.text(e, "excluded_tools.reason", &t.reason);
    }
}

fn canonical(data: &CatalogData) -> Vec<u8> {
    // Serialising plain structs of strings, numbers and vectors cannot fail.
    serde_json::to_vec(data).unwrap_or_default()
}

fn check_guide(
    c: &mut Checker,
    g: &Guide,
    tools: &HashMap<String, usize>,
    sources: &HashMap<String, usize>,
) {
    let e = format!("guides[{}]", g.id);
    c.text(&e, "title", &g.title);
    c.text(&e, "summary", &g.summary);
    c.references(&e, "tools", &g.tools, "tool", tools);
    c.references(&e, "sources", &g.sources, "source", sources);
    if g.sources.is_empty() {
        c.fail(&e, "must name at least one source");
    }
    if g.sections.is_empty() {
        c.fail(&e, "must have at least one section");
    }
    for (i, s) in g.sections.iter().enumerate() {
        c.text(&e, &format!("sections[{i}].heading"), &s.heading);
        c.text(&e, &format!("sections[{i}].text"), &s.text);
    }
}

fn check_guidance(c: &mut Checker, g: &Guidance, sources: &HashMap<String, usize>) {
    let e = "guidance";
    if !(1..=10).contains(&g.target_pressure)
        || !(g.target_pressure..=10).contains(&g.max_safe_pressure)
    {
        c.fail(
            e,
            "pressures must satisfy 1 <= target_pressure <= max_safe_pressure <= 10",
        );
    }
    if g.min_duration_seconds <= 0 || g.max_duration_seconds < g.min_duration_seconds {
        c.fail(
            e,
            "durations must satisfy 0 < min_duration_seconds <= max_duration_seconds",
        );
    }
    for (name, v) in [
        (
            "max_sessions_per_point_per_day",
            g.max_sessions_per_point_per_day,
        ),
        (
            "recommended_sessions_per_day_min",
            g.recommended_sessions_per_day_min,
        ),
        ("expected_improvement_days", g.expected_improvement_days),
        ("trend_window_days", g.trend_window_days),
        ("consistent_days_min", g.consistent_days_min),
        ("min_tenderness_change", g.min_tenderness_change),
    ] {
        if v <= 0 {
            c.fail(e, format!("{name} must be positive"));
        }
    }
    if g.recommended_sessions_per_day_min > g.max_sessions_per_point_per_day {
        c.fail(
            e,
            "recommended_sessions_per_day_min exceeds max_sessions_per_point_per_day",
        );
    }
    if g.consistent_days_min > g.trend_window_days {
        c.fail(e, "consistent_days_min exceeds trend_window_days");
    }
    if g.min_tenderness_change > 10 {
        c.fail(e, "min_tenderness_change is beyond the 0-10 scale");
    }
    c.text(e, "pressure_description", &g.pressure_description);
    c.text(e, "summary", &g.summary);
    c.references(e, "sources", &g.sources, "source", sources);
}

struct Refs<'a> {
    regions: &'a HashMap<String, usize>,
    muscles: &'a HashMap<String, usize>,
    tools: &'a HashMap<String, usize>,
    symptoms: &'a HashMap<String, usize>,
    sources: &'a HashMap<String, usize>,
    contras: &'a HashMap<String, usize>,
    contraindications: &'a [Contraindication],
    tool_data: &'a [Tool],
}

fn check_point(c: &mut Checker, t: &TriggerPoint, r: &Refs<'_>) {
    let e = format!("trigger_points[{}]", t.id);
    let e = e.as_str();
    c.text(e, "name", &t.name);
    c.text(e, "location", &t.location);
    c.reference(e, "muscle", &t.muscle, "muscle", r.muscles);
    c.reference(e, "region", &t.region, "region", r.regions);
    let (x, y) = (t.chart.x, t.chart.y);
    if !(x.is_finite() && (0.0..=1.0).contains(&x) && y.is_finite() && (0.0..=1.0).contains(&y)) {
        c.fail(e, format!("chart point ({x}, {y}) is outside 0..1"));
    } else if t.bilateral {
        // Lateral points are drawn on the person's right side: the right half
        // of the back view, the left half of the front view.
        let wrong = match t.chart.view {
            View::Back => x < 0.5,
            View::Front => x > 0.5,
        };
        if wrong {
            c.fail(
                e,
                format!("bilateral point is drawn on the person's left side (x = {x}); give the right side"),
            );
        }
    }
    if t.referrals.is_empty() {
        c.fail(e, "needs at least one referral zone");
    } else if !t.referrals.iter().any(|x| x.kind == ReferralKind::Primary) {
        c.fail(e, "needs at least one PRIMARY referral zone");
    }
    let mut seen = HashSet::new();
    for x in &t.referrals {
        c.reference(e, "referrals.region", &x.region, "region", r.regions);
        if !seen.insert(x.region.as_str()) {
            c.fail(e, format!("referrals list region \"{}\" twice", x.region));
        }
    }
    c.references(e, "symptoms", &t.symptoms, "symptom", r.symptoms);
    c.references(e, "sources", &t.sources, "source", r.sources);
    if t.techniques.is_empty() {
        c.fail(e, "needs at least one technique");
    }
    let mut used = HashSet::new();
    for x in &t.techniques {
        c.reference(e, "techniques.tool", &x.tool, "tool", r.tools);
        c.text(e, "techniques.text", &x.text);
        if !used.insert(x.tool.as_str()) {
            c.fail(e, format!("techniques list tool \"{}\" twice", x.tool));
        }
    }
    for x in &t.excluded_tools {
        c.reference(e, "excluded_tools.tool", &x.tool, "tool", r.tools);
        c.text(e, "excluded_tools.reason", &x.reason);
        if used.contains(x.tool.as_str()) {
            c.fail(
                e,
                format!("tool \"{}\" is both a technique and excluded", x.tool),
            );
        }
    }
    for x in &t.excluded_conditions {
        match r.contras.get(&x.condition) {
            None => c.fail(
                e,
                format!(
                    "excluded_conditions.condition refers to unknown contraindication \"{}\"",
                    x.condition
                ),
            ),
            Some(&i) if r.contraindications[i].kind != ContraindicationKind::Condition => c.fail(
                e,
                format!(
                    "excluded_conditions.condition \"{}\" is a LOCATION, not a CONDITION",
                    x.condition
                ),
            ),
            Some(_) => {}
        }
        c.text(e, "excluded_conditions.reason", &x.reason);
    }
    for x in &t.cautions {
        c.text(e, "cautions.structure", &x.structure);
        c.text(e, "cautions.text", &x.text);
    }
    check_therapist_only(c, e, t, r);
}

/// A hold limit (of a region or a point) is a real limit: at least 10 s and
/// shorter than the guidance's longest hold.
fn check_hold(c: &mut Checker, e: &str, hold: Option<i32>, g: &Guidance) {
    if let Some(s) = hold
        && !(10..g.max_duration_seconds).contains(&s)
    {
        c.fail(
            e,
            format!(
                "max_hold_seconds {s} must be 10..{} (shorter than the guidance's max_duration_seconds)",
                g.max_duration_seconds
            ),
        );
    }
}

/// A therapist-only point says why, and offers only clinic tools (a
/// therapist): a self-treatment technique on it would contradict the rule
/// that refuses self-treatment there.
fn check_therapist_only(c: &mut Checker, e: &str, t: &TriggerPoint, r: &Refs<'_>) {
    if !t.therapist_only {
        if !t.therapist_only_note.is_empty() {
            c.fail(e, "therapist_only_note is set but therapist_only is not");
        }
        return;
    }
    c.text(e, "therapist_only_note", &t.therapist_only_note);
    for x in &t.techniques {
        let clinic = r
            .tools
            .get(&x.tool)
            .is_some_and(|&i| r.tool_data[i].portability == Portability::Clinic);
        if !clinic {
            c.fail(
                e,
                format!(
                    "a therapist_only point offers self-treatment with tool \"{}\"; only CLINIC tools may be techniques",
                    x.tool
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixture;

    /// Applies `(from, to)` replacements to the fixture (each must occur) and
    /// expects a problem naming `entry` whose message contains `needle`.
    #[track_caller]
    fn check(edits: &[(&str, &str)], entry: &str, needle: &str) {
        let mut text = fixture::TOML.to_owned();
        for (from, to) in edits {
            assert!(text.contains(from), "fixture lacks {from:?}");
            text = text.replacen(from, to, 1);
        }
        let err = match Catalog::from_toml(&text) {
            Ok(_) => panic!("accepted, expected {entry}: {needle}"),
            Err(e) => e,
        };
        let problems = err.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.entry.contains(entry) && p.message.contains(needle)),
            "expected {entry}: {needle}, got {problems:?}"
        );
        // The top-level message names the entry too (what the operator sees).
        assert!(err.to_string().contains(entry), "{err}");
    }

    #[test]
    fn fixture_is_valid_and_indexed() {
        let c = fixture::catalog();
        assert_eq!(c.version().len(), 64);
        let ql = c.muscle_index("quadratus_lumborum").unwrap();
        assert_eq!(c.points_of_muscle(ql).len(), 2);
        let claw = c.tool_index("ql_claw").unwrap();
        assert_eq!(c.muscles_for_tool(claw), &[ql]);
        let gun = c.tool_index("massage_gun").unwrap();
        let tib = c.muscle_index("tibialis_anterior").unwrap();
        // Excluded on the SCM and psoas, a technique only on tibialis.
        assert_eq!(c.muscles_for_tool(gun), &[tib]);
    }

    #[test]
    fn version_ignores_formatting_but_not_content() {
        let a = fixture::catalog();
        let b = Catalog::from_toml(&format!("# a comment\n{}", fixture::TOML)).unwrap();
        assert_eq!(a.version(), b.version());
        let c =
            Catalog::from_toml(&fixture::TOML.replace("About 5 of 10.", "About 5/10.")).unwrap();
        assert_ne!(a.version(), c.version());
        let d = Catalog::from_canonical(&a.canonical()).unwrap();
        assert_eq!(a.version(), d.version());
    }

    /// A guide on the fixture's claw, appended to the fixture text.
    const GUIDE: &str = "\n[[guides]]\nid = \"claw\"\ntitle = \"Claw\"\nsummary = \"Lie on it.\"\ntools = [\"ql_claw\"]\nsources = [\"travell_simons\"]\n[[guides.sections]]\nheading = \"Place\"\ntext = \"In the flank.\"\n";

    #[track_caller]
    fn check_guide(edits: &[(&str, &str)], needle: Option<&str>) {
        let mut guide = GUIDE.to_owned();
        for (from, to) in edits {
            assert!(guide.contains(from), "guide lacks {from:?}");
            guide = guide.replacen(from, to, 1);
        }
        match (Catalog::from_files(fixture::TOML, &guide), needle) {
            (Ok(_), None) => {}
            (Ok(_), Some(n)) => panic!("accepted, expected {n}"),
            (Err(e), None) => panic!("refused: {e}"),
            (Err(e), Some(n)) => assert!(
                e.problems()
                    .iter()
                    .any(|p| p.entry.starts_with("guides[") && p.message.contains(n))
                    || e.to_string().contains(n),
                "expected {n}, got {e}"
            ),
        }
    }

    #[test]
    fn guide_validation_table() {
        check_guide(&[], None);
        check_guide(
            &[("[\"ql_claw\"]", "[\"ql_clawz\"]")],
            Some("unknown tool \"ql_clawz\""),
        );
        check_guide(
            &[("[\"travell_simons\"]", "[\"nobody\"]")],
            Some("unknown source \"nobody\""),
        );
        check_guide(
            &[("[\"travell_simons\"]", "[]")],
            Some("at least one source"),
        );
        check_guide(
            &[("text = \"In the flank.\"", "text = \" \"")],
            Some("sections[0].text"),
        );
        check_guide(
            &[("id = \"claw\"", "id = \"Claw\"")],
            Some("lower_snake_case"),
        );
        check_guide(&[("title", "titel")], Some("guides file"));
    }

    #[test]
    fn guides_are_linked_and_hashed() {
        let plain = fixture::catalog();
        let with = Catalog::from_files(fixture::TOML, GUIDE).unwrap();
        // Guides are content: they change the version, and survive the store.
        assert_ne!(plain.version(), with.version());
        let back = Catalog::from_canonical(&with.canonical()).unwrap();
        assert_eq!(back.version(), with.version());
        assert_eq!(back.data().guides.len(), 1);
        // No guides: the canonical form (so the version) is what it was.
        assert_eq!(
            Catalog::from_files(fixture::TOML, "").unwrap().version(),
            plain.version()
        );
        let g = with.guide_index("claw").unwrap();
        let claw = with.tool_index("ql_claw").unwrap();
        assert_eq!(with.guides_of_tool(claw), &[g]);
        for (i, t) in with.data().trigger_points.iter().enumerate() {
            let uses = t.techniques.iter().any(|x| x.tool == "ql_claw");
            assert_eq!(with.guides_of_point(i).contains(&g), uses, "{}", t.id);
        }
    }

    #[test]
    fn validation_table() {
        check(
            &[("id = \"piriformis_1\"", "id = \"gluteus_minimus_1\"")],
            "trigger_points[gluteus_minimus_1]",
            "duplicate id",
        );
        check(
            &[("id = \"shin\"", "id = \"Shin\"")],
            "regions[Shin]",
            "lower_snake_case",
        );
        check(
            &[("muscle = \"piriformis\"", "muscle = \"piriformiss\"")],
            "trigger_points[piriformis_1]",
            "unknown muscle \"piriformiss\"",
        );
        check(
            &[("region = \"shin\"\n", "region = \"shinn\"\n")],
            "muscles[tibialis_anterior]",
            "unknown region \"shinn\"",
        );
        check(
            &[(
                "{ region = \"shin\", kind = \"PRIMARY\" }",
                "{ region = \"calf\", kind = \"PRIMARY\" }",
            )],
            "trigger_points[tibialis_anterior_1]",
            "unknown region \"calf\"",
        );
        check(
            &[("x = 0.42, y = 0.75", "x = 0.42, y = 1.75")],
            "trigger_points[tibialis_anterior_1]",
            "outside 0..1",
        );
        check(
            &[("x = 0.42, y = 0.75", "x = -0.1, y = 0.75")],
            "trigger_points[tibialis_anterior_1]",
            "outside 0..1",
        );
        check(
            &[("x = 0.42, y = 0.75", "x = 0.62, y = 0.75")],
            "trigger_points[tibialis_anterior_1]",
            "left side",
        );
        check(
            &[(
                "techniques = [{ tool = \"lacrosse_ball\", text = \"Lean into a door frame.\" }]",
                "techniques = []",
            )],
            "trigger_points[pectoralis_major_1]",
            "at least one technique",
        );
        check(
            &[(
                "techniques = [{ tool = \"fingers\", text = \"Small circles.\" }]",
                "techniques = [{ tool = \"thumb\", text = \"Small circles.\" }]",
            )],
            "trigger_points[temporalis_1]",
            "unknown tool \"thumb\"",
        );
        check(
            &[(
                "excluded_tools = [{ tool = \"massage_gun\", reason = \"Arteries and nerves lie close.\" }]",
                "excluded_tools = [{ tool = \"fingers\", reason = \"x\" }]",
            )],
            "trigger_points[sternocleidomastoid_1]",
            "both a technique and excluded",
        );
        check(
            &[(
                "condition = \"aneurysm\", reason = \"The carotid",
                "condition = \"pulse\", reason = \"The carotid",
            )],
            "trigger_points[sternocleidomastoid_1]",
            "LOCATION",
        );
        check(
            &[(
                "condition = \"aneurysm\", reason = \"The carotid",
                "condition = \"stroke\", reason = \"The carotid",
            )],
            "trigger_points[sternocleidomastoid_1]",
            "unknown contraindication",
        );
        check(
            &[("area = \"Legs\"", "area = \"Lower legs\"")],
            "regions[shin]",
            "area \"Lower legs\"",
        );
        check(
            &[(
                "red_flags = [\"sharp_pain\", \"possible_cardiac\"]",
                "red_flags = [\"sharp_pain\", \"heart\"]",
            )],
            "regions[chest]",
            "unknown red flag \"heart\"",
        );
        check(
            &[("synonyms = [\"pecs\"]", "synonyms = [\"lumbar\"]")],
            "regions[low_back]",
            "already names region \"chest\"",
        );
        check(
            &[("synonyms = [\"numb\"]", "synonyms = [\"ache\"]")],
            "symptoms[numbness]",
            "already names symptom \"pain\"",
        );
        check(
            &[(
                "symptoms = [\"pain\", \"tingling\"]",
                "symptoms = [\"pain\", \"burning\"]",
            )],
            "trigger_points[piriformis_1]",
            "unknown symptom \"burning\"",
        );
        check(
            &[(
                "referrals = [{ region = \"shin\", kind = \"PRIMARY\" }]",
                "referrals = [{ region = \"shin\", kind = \"SPILLOVER\" }]",
            )],
            "trigger_points[tibialis_anterior_1]",
            "PRIMARY",
        );
        check(
            &[(
                "referrals = [{ region = \"shin\", kind = \"PRIMARY\" }]",
                "referrals = []",
            )],
            "trigger_points[tibialis_anterior_1]",
            "at least one referral",
        );
        check(
            &[(
                "screening_question = \"Have you been diagnosed with an aneurysm?\"\n",
                "",
            )],
            "contraindications[aneurysm]",
            "screening_question",
        );
        check(
            &[("target_pressure = 5", "target_pressure = 9")],
            "guidance",
            "pressures",
        );
        check(
            &[("min_duration_seconds = 180", "min_duration_seconds = 400")],
            "guidance",
            "durations",
        );
        check(
            &[(
                "sources = [\"travell_simons\"]\n\n[[symptoms]]",
                "sources = [\"davies\"]\n\n[[symptoms]]",
            )],
            "guidance",
            "unknown source \"davies\"",
        );
        check(
            &[("muscle = \"temporalis\"", "muscle = \"upper_trapezius\"")],
            "muscles[temporalis]",
            "no trigger points",
        );
        // A therapist-only point says why and offers no self-treatment.
        let therapist = (
            "x = 0.42, y = 0.75 }\nbilateral = true\n",
            "x = 0.42, y = 0.75 }\nbilateral = true\ntherapist_only = true\ntherapist_only_note = \"Inside the pelvis.\"\n",
        );
        check(
            &[therapist],
            "trigger_points[tibialis_anterior_1]",
            "tool \"fingers\"; only CLINIC tools",
        );
        check(
            &[(
                "x = 0.42, y = 0.75 }\nbilateral = true\n",
                "x = 0.42, y = 0.75 }\nbilateral = true\ntherapist_only = true\n",
            )],
            "trigger_points[tibialis_anterior_1]",
            "therapist_only_note must not be empty",
        );
        check(
            &[(
                "x = 0.42, y = 0.75 }\nbilateral = true\n",
                "x = 0.42, y = 0.75 }\nbilateral = true\ntherapist_only_note = \"Why.\"\n",
            )],
            "trigger_points[tibialis_anterior_1]",
            "therapist_only is not",
        );
        // Unknown fields are denied, and the message names the key.
        check(
            &[(
                "bilateral = true\nreferrals = [{ region = \"shin\"",
                "bilateral = true\ncolour = \"red\"\nreferrals = [{ region = \"shin\"",
            )],
            "file",
            "colour",
        );
        check(
            &[("action = \"URGENT_CARE\"", "action = \"PANIC\"")],
            "file",
            "PANIC",
        );
    }

    #[test]
    fn a_therapist_only_point_with_clinic_tools_is_valid() {
        let text = fixture::TOML
            .replace("portability = \"BAG\"", "portability = \"CLINIC\"")
            .replace(
                "x = 0.42, y = 0.75 }\nbilateral = true\n",
                "x = 0.42, y = 0.75 }\nbilateral = true\ntherapist_only = true\ntherapist_only_note = \"Out of reach.\"\n",
            )
            .replace(
                "techniques = [{ tool = \"fingers\", text = \"Press beside the bone.\" }, ",
                "techniques = [",
            );
        let c = Catalog::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
        let i = c.point_index("tibialis_anterior_1").unwrap();
        let p = &c.data().trigger_points[i];
        assert!(p.therapist_only);
        assert_eq!(p.therapist_only_note, "Out of reach.");
        // Points that do not set it are self-treatable.
        let j = c.point_index("piriformis_1").unwrap();
        assert!(!c.data().trigger_points[j].therapist_only);
    }

    #[test]
    fn safety_content_validation_table() {
        // Every rule carries its source.
        check(
            &[(
                "action = \"URGENT_CARE\"\nsources = [\"travell_simons\"]",
                "action = \"URGENT_CARE\"",
            )],
            "red_flags[possible_cardiac]",
            "at least one source",
        );
        check(
            &[(
                "guidance = \"Never press on a pulse.\"\nsources = [\"travell_simons\"]",
                "guidance = \"Never press on a pulse.\"",
            )],
            "contraindications[pulse]",
            "at least one source",
        );
        // A symptom's red flags must exist.
        check(
            &[(
                "red_flags = [\"possible_cardiac\"]\n",
                "red_flags = [\"heart\"]\n",
            )],
            "symptoms[breathlessness]",
            "unknown red flag \"heart\"",
        );
        // A LIMITS condition advises a provider before firm pressure...
        check(
            &[("max_pressure_until_cleared = 3\n", "")],
            "contraindications[pregnancy]",
            "needs max_pressure_until_cleared",
        );
        // ...with a ceiling no higher than the target pressure.
        check(
            &[(
                "max_pressure_until_cleared = 3",
                "max_pressure_until_cleared = 6",
            )],
            "contraindications[pregnancy]",
            "must be 1..=5",
        );
        check(
            &[(
                "screening_question = \"Have you been diagnosed with an aneurysm?\"\n",
                "screening_question = \"Have you been diagnosed with an aneurysm?\"\nmax_pressure_until_cleared = 3\n",
            )],
            "contraindications[aneurysm]",
            "only applies to a LIMITS condition",
        );
        check(
            &[(
                "guidance = \"Never press on a pulse.\"",
                "guidance = \"Never press on a pulse.\"\neffect = \"LIMITS\"",
            )],
            "contraindications[pulse]",
            "LOCATION takes no effect or limits",
        );
        check(
            &[("[{ id = \"groin\", reason", "[{ id = \"grion\", reason")],
            "contraindications[pregnancy]",
            "excluded_regions refers to unknown region \"grion\"",
        );
        check(
            &[(
                "excluded_regions = [{ id = \"groin\"",
                "excluded_points = [{ id = \"psoas_9\"",
            )],
            "contraindications[pregnancy]",
            "excluded_points refers to unknown trigger point \"psoas_9\"",
        );
        check(
            &[(
                "[{ tool = \"massage_gun\", reason = \"No percussion in pregnancy.\" }]",
                "[{ tool = \"gun\", reason = \"No percussion in pregnancy.\" }]",
            )],
            "contraindications[pregnancy]",
            "excluded_tools refers to unknown tool \"gun\"",
        );
        check(
            &[(
                "reason = \"The groin and belly are off limits in pregnancy.\"",
                "reason = \" \"",
            )],
            "contraindications[pregnancy]",
            "excluded_regions.reason must not be empty",
        );
        // A region's ceiling is below the guidance's, never above.
        check(
            &[("max_safe_pressure = 4", "max_safe_pressure = 8")],
            "regions[neck_side]",
            "must be 1..=7",
        );
        // A hold limit is shorter than the guidance's longest hold.
        check(
            &[("max_hold_seconds = 60", "max_hold_seconds = 300")],
            "regions[groin]",
            "max_hold_seconds 300 must be 10..300",
        );
        check(
            &[("max_hold_seconds = 60", "max_hold_seconds = 0")],
            "regions[groin]",
            "max_hold_seconds 0 must be 10..300",
        );
        check(
            &[("effect = \"LIMITS\"", "effect = \"SOMETIMES\"")],
            "file",
            "SOMETIMES",
        );
    }

    #[test]
    fn condition_limits_fold_onto_points_and_ceilings_onto_places() {
        let c = fixture::catalog();
        let d = c.data();
        // The pregnancy's region limit (groin) reaches the point lying there,
        // beside the point's own excluded conditions.
        let psoas = c.point_index("iliopsoas_1").unwrap();
        let ids: Vec<&str> = c
            .point_excluded_conditions(psoas)
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert!(ids.contains(&"pregnancy"), "{ids:?}");
        assert!(ids.contains(&"aneurysm"), "{ids:?}");
        // A point elsewhere is not touched.
        let tib = c.point_index("tibialis_anterior_1").unwrap();
        assert!(
            !c.point_excluded_conditions(tib)
                .iter()
                .any(|(id, _)| *id == "pregnancy")
        );
        // The side of the neck has a ceiling of 4; the shin the guidance's 7.
        let scm = c.point_index("sternocleidomastoid_1").unwrap();
        assert_eq!(c.point_max_pressure(scm), 4);
        assert_eq!(c.point_max_pressure(tib), d.guidance.max_safe_pressure);
        // The groin's hold limit reaches the point lying there; the shin
        // keeps the guidance's longest hold.
        assert_eq!(c.point_max_hold(psoas), 60);
        assert_eq!(c.point_max_hold(tib), d.guidance.max_duration_seconds);
    }

    #[test]
    fn many_problems_are_all_reported() {
        let text = fixture::TOML
            .replace("muscle = \"piriformis\"", "muscle = \"nope\"")
            .replace("x = 0.42, y = 0.75", "x = 2.0, y = 0.75");
        let problems = Catalog::from_toml(&text).unwrap_err().problems();
        assert!(problems.len() >= 2, "{problems:?}");
    }
}
