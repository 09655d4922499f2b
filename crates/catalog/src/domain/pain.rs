//! "Where does it hurt?": resolving painful places and symptoms, and ranking
//! the muscles whose trigger points can explain them.
//!
//! Ranking rules (each is tested below), compared in this order:
//! 1. a muscle with a point that refers to a requested region as its primary
//!    (essential) zone ranks above one that reaches them only as spillover;
//! 2. then the muscle that explains more of the requested regions and
//!    symptoms ranks higher;
//! 3. then more regions reached as primary zone;
//! 4. then the total referral weight (primary 2, spillover 1);
//! 5. then file order, so the answer is stable.
//!
//! The `score` reported packs that key into one number (higher is better), so
//! clients can compare scores without knowing the rules.
//!
//! Only points that refer to at least one requested region match; symptoms
//! refine the ranking but never match a point on their own.

use knotwork_proto::names::{self, Collection};

use super::catalog::Catalog;
use super::model::{RedFlagAction, ReferralKind};
use super::text::{MatchHow, Vocabulary, normalize};
use super::{Side, Violation};

/// Most locations in one query.
pub const MAX_LOCATIONS: usize = 16;
/// Most symptoms in one query.
pub const MAX_SYMPTOMS: usize = 16;
/// Longest accepted text of one location or symptom.
pub const MAX_TEXT: usize = 200;

/// The ranking key of a muscle or a point: (any primary, regions and
/// symptoms explained, primary regions, referral weight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct Key {
    primary: bool,
    explained: usize,
    primaries: usize,
    weight: usize,
}

impl Key {
    fn add_region(&mut self, kind: ReferralKind) {
        self.explained += 1;
        if kind == ReferralKind::Primary {
            self.primary = true;
            self.primaries += 1;
            self.weight += 2;
        } else {
            self.weight += 1;
        }
    }

    /// The key as one number. Counts are bounded by [`MAX_LOCATIONS`] and
    /// [`MAX_SYMPTOMS`] (at most 32 explained, 16 primary, weight 32), so
    /// each term stays below the step of the one before it.
    fn score(self) -> f64 {
        f64::from(u8::from(self.primary)) * 10_000.0
            + self.explained as f64 * 100.0
            + self.primaries as f64
            + self.weight as f64 * 0.01
    }
}

/// One painful place as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PainLocation {
    /// Id, resource name, synonym or free text.
    pub region: String,
    /// Which side hurts.
    pub side: Side,
}

/// A find-by-pain query as asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PainQuery {
    /// Where it hurts.
    pub locations: Vec<PainLocation>,
    /// Optional symptoms (ids, resource names or words).
    pub symptoms: Vec<String>,
}

/// A location as understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLocation {
    /// The text as given.
    pub input: String,
    /// The region index.
    pub region: usize,
    /// The side: as given, else as said in the text ("left shoulder").
    pub side: Side,
}

/// A query as understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPain {
    /// The locations.
    pub locations: Vec<ResolvedLocation>,
    /// Symptom indexes, de-duplicated, in the order given.
    pub symptoms: Vec<usize>,
}

impl ResolvedPain {
    /// A stable fingerprint of what was asked, for page tokens.
    pub fn fingerprint(&self) -> String {
        let locs: Vec<String> = self
            .locations
            .iter()
            .map(|l| format!("{}:{:?}", l.region, l.side))
            .collect();
        let syms: Vec<String> = self.symptoms.iter().map(ToString::to_string).collect();
        format!("pain|{}|{}", locs.join(","), syms.join(","))
    }
}

/// Why a point matched.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// It refers to a painful region.
    Region {
        /// Region index.
        region: usize,
        /// Primary or spillover.
        kind: ReferralKind,
    },
    /// It can cause a requested symptom.
    Symptom {
        /// Symptom index.
        symptom: usize,
    },
}

/// A trigger point that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct PointMatch {
    /// Trigger point index.
    pub point: usize,
    /// Why.
    pub reasons: Vec<Reason>,
    /// Which side to press.
    pub press_side: Side,
    /// Its score.
    pub score: f64,
}

/// A muscle that can explain the pain.
#[derive(Debug, Clone, PartialEq)]
pub struct MuscleMatch {
    /// Muscle index.
    pub muscle: usize,
    /// Ranking score.
    pub score: f64,
    /// Matching points, best first.
    pub points: Vec<PointMatch>,
    /// Requested region indexes it explains.
    pub explained_regions: Vec<usize>,
    /// Requested symptom indexes it explains.
    pub explained_symptoms: Vec<usize>,
    /// Whether some point refers to a requested region as primary zone.
    pub primary: bool,
}

/// The answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PainAnswer {
    /// Muscles, best first.
    pub matches: Vec<MuscleMatch>,
    /// Red flag indexes of the painful regions, most urgent first.
    pub red_flags: Vec<usize>,
}

/// Takes "left"/"right"/"both" out of a free-text location.
fn split_side(text: &str) -> (String, Option<Side>) {
    let norm = normalize(text);
    let mut side = None;
    let mut rest = Vec::new();
    for w in norm.split(' ') {
        match w {
            "left" => {
                side = Some(if side == Some(Side::Right) {
                    Side::Both
                } else {
                    Side::Left
                })
            }
            "right" => {
                side = Some(if side == Some(Side::Left) {
                    Side::Both
                } else {
                    Side::Right
                })
            }
            "both" | "bilateral" => side = Some(Side::Both),
            _ => rest.push(w),
        }
    }
    (rest.join(" "), side)
}

/// Resolves a region text: a resource name, an id, a synonym or free text.
pub fn resolve_region(catalog: &Catalog, text: &str) -> Option<(usize, MatchHow)> {
    resolve_in(
        text,
        names::REGIONS,
        |id| catalog.region_index(id),
        &catalog.region_vocab,
    )
}

/// Resolves a symptom text: a resource name, an id, a synonym or words.
pub fn resolve_symptom(catalog: &Catalog, text: &str) -> Option<(usize, MatchHow)> {
    resolve_in(
        text,
        names::SYMPTOMS,
        |id| catalog.symptom_index(id),
        &catalog.symptom_vocab,
    )
}

/// Resolves `text` in one collection: `collection/{id}` or an id found by
/// `index` is exact, anything else goes to `vocab`.
fn resolve_in(
    text: &str,
    collection: Collection,
    index: impl Fn(&str) -> Option<usize>,
    vocab: &Vocabulary,
) -> Option<(usize, MatchHow)> {
    let t = text.trim();
    let id = collection.id_of(t).unwrap_or(t);
    match index(id) {
        Some(i) => Some((i, MatchHow::Exact)),
        None => vocab.resolve(id),
    }
}

/// Checks and resolves a query; every problem comes back as a field
/// violation.
pub fn resolve(catalog: &Catalog, query: &PainQuery) -> Result<ResolvedPain, Vec<Violation>> {
    let mut v = Vec::new();
    if query.locations.is_empty() {
        v.push(Violation::new(
            "locations",
            "at least one location is required",
        ));
    }
    if query.locations.len() > MAX_LOCATIONS {
        v.push(Violation::new(
            "locations",
            format!("at most {MAX_LOCATIONS} locations"),
        ));
    }
    if query.symptoms.len() > MAX_SYMPTOMS {
        v.push(Violation::new(
            "symptoms",
            format!("at most {MAX_SYMPTOMS} symptoms"),
        ));
    }
    let mut locations = Vec::new();
    for (i, loc) in query.locations.iter().enumerate().take(MAX_LOCATIONS) {
        let field = format!("locations[{i}].region");
        if loc.region.trim().is_empty() {
            v.push(Violation::new(field, "must not be empty"));
            continue;
        }
        if loc.region.len() > MAX_TEXT {
            v.push(Violation::new(field, format!("at most {MAX_TEXT} bytes")));
            continue;
        }
        let (text, said) = split_side(&loc.region);
        let found = resolve_region(catalog, &loc.region).or_else(|| resolve_region(catalog, &text));
        match found {
            Some((region, _)) => {
                let side = if loc.side == Side::Unspecified {
                    said.unwrap_or(Side::Unspecified)
                } else {
                    loc.side
                };
                let side = if catalog.data().regions[region].lateral {
                    side
                } else {
                    Side::Midline
                };
                locations.push(ResolvedLocation {
                    input: loc.region.clone(),
                    region,
                    side,
                });
            }
            None => v.push(Violation::new(
                field,
                format!("no body region matches \"{}\"", loc.region.trim()),
            )),
        }
    }
    let mut symptoms = Vec::new();
    for (i, s) in query.symptoms.iter().enumerate().take(MAX_SYMPTOMS) {
        let field = format!("symptoms[{i}]");
        if s.trim().is_empty() {
            v.push(Violation::new(field, "must not be empty"));
        } else if s.len() > MAX_TEXT {
            v.push(Violation::new(field, format!("at most {MAX_TEXT} bytes")));
        } else {
            match resolve_symptom(catalog, s) {
                Some((sym, _)) => {
                    if !symptoms.contains(&sym) {
                        symptoms.push(sym);
                    }
                }
                None => v.push(Violation::new(
                    field,
                    format!("no symptom matches \"{}\"", s.trim()),
                )),
            }
        }
    }
    if v.is_empty() {
        Ok(ResolvedPain {
            locations,
            symptoms,
        })
    } else {
        Err(v)
    }
}

fn severity(a: RedFlagAction) -> u8 {
    match a {
        RedFlagAction::UrgentCare => 0,
        RedFlagAction::SeekMedicalAttention => 1,
        RedFlagAction::RuleOutFirst => 2,
        RedFlagAction::StopSession => 3,
    }
}

/// Ranks the muscles that can explain a resolved query.
pub fn find(catalog: &Catalog, q: &ResolvedPain) -> PainAnswer {
    let data = catalog.data();
    let mut regions: Vec<usize> = Vec::new();
    for l in &q.locations {
        if !regions.contains(&l.region) {
            regions.push(l.region);
        }
    }
    let mut matches = Vec::new();
    for (m, points) in catalog.muscle_points.iter().enumerate() {
        let mut pms = Vec::new();
        // Best referral kind per requested region across the muscle's points.
        let mut best: Vec<Option<ReferralKind>> = vec![None; regions.len()];
        let mut syms: Vec<usize> = Vec::new();
        for &p in points {
            let tp = &data.trigger_points[p];
            let mut reasons = Vec::new();
            let mut key = Key::default();
            let mut left = false;
            let mut right = false;
            for (ri, &r) in regions.iter().enumerate() {
                let rid = &data.regions[r].id;
                if let Some(refl) = tp.referrals.iter().find(|x| &x.region == rid) {
                    reasons.push(Reason::Region {
                        region: r,
                        kind: refl.kind,
                    });
                    key.add_region(refl.kind);
                    best[ri] = Some(best[ri].map_or(refl.kind, |b| b.min(refl.kind)));
                    for l in q.locations.iter().filter(|l| l.region == r) {
                        match l.side {
                            Side::Left => left = true,
                            Side::Right => right = true,
                            Side::Both | Side::Unspecified | Side::Midline => {
                                left = true;
                                right = true;
                            }
                        }
                    }
                }
            }
            if reasons.is_empty() {
                continue;
            }
            for &s in &q.symptoms {
                if tp.symptoms.iter().any(|x| x == &data.symptoms[s].id) {
                    reasons.push(Reason::Symptom { symptom: s });
                    key.explained += 1;
                    if !syms.contains(&s) {
                        syms.push(s);
                    }
                }
            }
            // Trigger points refer pain to their own side, so press the side
            // that hurts; a point on the midline is pressed there.
            let press_side = if !tp.bilateral {
                Side::Midline
            } else {
                match (left, right) {
                    (true, false) => Side::Left,
                    (false, true) => Side::Right,
                    _ => Side::Both,
                }
            };
            pms.push(PointMatch {
                point: p,
                reasons,
                press_side,
                score: key.score(),
            });
        }
        if pms.is_empty() {
            continue;
        }
        pms.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.point.cmp(&b.point)));
        syms.sort_by_key(|s| q.symptoms.iter().position(|x| x == s));
        let mut key = Key {
            explained: syms.len(),
            ..Key::default()
        };
        let mut explained_regions = Vec::new();
        for (ri, b) in best.iter().enumerate() {
            if let Some(kind) = *b {
                key.add_region(kind);
                explained_regions.push(regions[ri]);
            }
        }
        let primary = key.primary;
        matches.push(MuscleMatch {
            muscle: m,
            score: key.score(),
            points: pms,
            explained_regions,
            explained_symptoms: syms,
            primary,
        });
    }
    matches.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.muscle.cmp(&b.muscle)));

    // The flags the named symptoms can be a sign of come first, then the
    // painful regions' flags.
    let mut red_flags: Vec<usize> = Vec::new();
    let named = q.symptoms.iter().flat_map(|&s| &data.symptoms[s].red_flags);
    let of_regions = regions.iter().flat_map(|&r| &data.regions[r].red_flags);
    for id in named.chain(of_regions) {
        if let Some(i) = catalog.red_flag_index(id)
            && !red_flags.contains(&i)
        {
            red_flags.push(i);
        }
    }
    // Most urgent first; within a tier a flag a symptom names comes before
    // the regions' (the sort is stable and they were pushed first), then the
    // data file's order.
    red_flags.sort_by_key(|&i| severity(data.red_flags[i].action));
    PainAnswer { matches, red_flags }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixture;

    fn query(locs: &[(&str, Side)], symptoms: &[&str]) -> PainQuery {
        PainQuery {
            locations: locs
                .iter()
                .map(|(r, s)| PainLocation {
                    region: (*r).to_owned(),
                    side: *s,
                })
                .collect(),
            symptoms: symptoms.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn ranked(locs: &[(&str, Side)], symptoms: &[&str]) -> (Catalog, PainAnswer) {
        let c = fixture::catalog();
        let q = resolve(&c, &query(locs, symptoms)).unwrap();
        let a = find(&c, &q);
        (c, a)
    }

    fn muscle_ids(c: &Catalog, a: &PainAnswer) -> Vec<String> {
        a.matches
            .iter()
            .map(|m| c.data().muscles[m.muscle].id.clone())
            .collect()
    }

    #[track_caller]
    fn check_region(text: &str, expected: Option<&str>) {
        let c = fixture::catalog();
        let got = resolve_region(&c, text).map(|(i, _)| c.data().regions[i].id.as_str());
        assert_eq!(got, expected, "{text}");
    }

    #[test]
    fn region_resolution_table() {
        check_region("low_back", Some("low_back"));
        check_region("regions/low_back", Some("low_back"));
        check_region("Lower Back", Some("low_back"));
        check_region("LUMBAR", Some("low_back"));
        check_region("pain in my lower back", Some("low_back"));
        check_region("lowwer back", Some("low_back"));
        check_region("temples", Some("temple"));
        check_region("Back of the leg", Some("thigh_back"));
        check_region("regions/nowhere", None);
        check_region("elbow", None);
    }

    #[test]
    fn side_words_in_text_set_the_side() {
        let c = fixture::catalog();
        let q = resolve(&c, &query(&[("left lower back", Side::Unspecified)], &[])).unwrap();
        assert_eq!(q.locations[0].side, Side::Left);
        // An explicit side wins over the text.
        let q = resolve(&c, &query(&[("left lower back", Side::Right)], &[])).unwrap();
        assert_eq!(q.locations[0].side, Side::Right);
        // Midline regions have no side.
        let q = resolve(&c, &query(&[("sacrum", Side::Left)], &[])).unwrap();
        assert_eq!(q.locations[0].side, Side::Midline);
    }

    #[test]
    fn bad_queries_name_the_field() {
        let c = fixture::catalog();
        let fields = |q: PainQuery| -> Vec<String> {
            resolve(&c, &q)
                .unwrap_err()
                .into_iter()
                .map(|v| v.field)
                .collect()
        };
        assert_eq!(fields(query(&[], &[])), ["locations"]);
        assert_eq!(
            fields(query(
                &[
                    ("low back", Side::Left),
                    ("  ", Side::Left),
                    ("moon", Side::Left)
                ],
                &["headache", "zzzz"]
            )),
            ["locations[1].region", "locations[2].region", "symptoms[1]"]
        );
        let many: Vec<(&str, Side)> = vec![("low back", Side::Left); 17];
        assert_eq!(fields(query(&many, &[])), ["locations"]);
    }

    #[test]
    fn primary_ranks_above_spillover() {
        let (c, a) = ranked(&[("low back", Side::Unspecified)], &[]);
        let ids = muscle_ids(&c, &a);
        // QL and psoas refer to the low back as primary zone, and QL's deep
        // point only as spillover; both primaries come first.
        assert_eq!(ids, ["quadratus_lumborum", "iliopsoas"]);
        assert!(a.matches.iter().all(|m| m.primary));
        let ql = &a.matches[0];
        assert_eq!(ql.points.len(), 2);
        assert!(ql.points[0].score > ql.points[1].score);
        assert_eq!(
            c.data().trigger_points[ql.points[0].point].id,
            "quadratus_lumborum_1"
        );

        let (c, a) = ranked(&[("back of thigh", Side::Unspecified)], &[]);
        assert_eq!(muscle_ids(&c, &a), ["gluteus_minimus", "piriformis"]);
        assert!(a.matches[0].primary && !a.matches[1].primary);
    }

    #[test]
    fn explaining_more_ranks_higher() {
        // Temple alone: three muscles tie on one primary region; temple plus
        // side of neck: only the upper trapezius explains both.
        let (c, a) = ranked(
            &[("temple", Side::Right), ("side of neck", Side::Right)],
            &[],
        );
        let ids = muscle_ids(&c, &a);
        assert_eq!(ids[0], "upper_trapezius");
        assert_eq!(a.matches[0].explained_regions.len(), 2);
        // A symptom lifts the muscle that can cause it.
        let (c, a) = ranked(&[("buttock", Side::Unspecified)], &["tingling"]);
        let ids = muscle_ids(&c, &a);
        assert_eq!(ids[0], "piriformis");
        assert_eq!(a.matches[0].explained_symptoms.len(), 1);
        assert!(
            a.matches[0].points[0]
                .reasons
                .iter()
                .any(|r| matches!(r, Reason::Symptom { .. }))
        );
    }

    #[test]
    fn press_side_follows_pain_side() {
        let (c, a) = ranked(&[("temple", Side::Left)], &[]);
        assert!(
            a.matches
                .iter()
                .all(|m| m.points.iter().all(|p| p.press_side == Side::Left)),
            "{:?}",
            muscle_ids(&c, &a)
        );
        let (_, a) = ranked(&[("temple", Side::Left), ("temple", Side::Right)], &[]);
        assert!(
            a.matches
                .iter()
                .all(|m| m.points.iter().all(|p| p.press_side == Side::Both))
        );
        let (_, a) = ranked(&[("temple", Side::Unspecified)], &[]);
        assert!(
            a.matches
                .iter()
                .all(|m| m.points.iter().all(|p| p.press_side == Side::Both))
        );
    }

    #[test]
    fn red_flags_come_with_regions_most_urgent_first() {
        let (c, a) = ranked(&[("chest", Side::Left)], &[]);
        let ids: Vec<&str> = a
            .red_flags
            .iter()
            .map(|&i| c.data().red_flags[i].id.as_str())
            .collect();
        assert_eq!(ids, ["possible_cardiac", "sharp_pain"]);
        let (c, a) = ranked(&[("shin", Side::Left)], &[]);
        let ids: Vec<&str> = a
            .red_flags
            .iter()
            .map(|&i| c.data().red_flags[i].id.as_str())
            .collect();
        assert_eq!(ids, ["sharp_pain"]);
    }

    #[test]
    fn a_symptom_that_names_a_red_flag_returns_it_first() {
        let flags = |a: &PainAnswer, c: &Catalog| -> Vec<String> {
            a.red_flags
                .iter()
                .map(|&i| c.data().red_flags[i].id.clone())
                .collect()
        };
        // The shin has no heart flag; "breathless" names one, and it is the
        // most urgent, so it comes first.
        let (c, a) = ranked(&[("shin", Side::Left)], &["breathless"]);
        assert_eq!(flags(&a, &c), ["possible_cardiac", "sharp_pain"]);
        // The symptom routes to no muscle on its own: the shin's muscle
        // still ranks, explaining no symptom.
        assert!(a.matches.iter().all(|m| m.explained_symptoms.is_empty()));
        // Named twice (symptom and region), it is listed once.
        let (c, a) = ranked(&[("chest", Side::Left)], &["breathless"]);
        assert_eq!(flags(&a, &c), ["possible_cardiac", "sharp_pain"]);
    }

    #[test]
    fn regions_nobody_refers_to_give_no_matches() {
        let (_, a) = ranked(&[("groin", Side::Left)], &[]);
        // Psoas refers to the groin as spillover.
        assert_eq!(a.matches.len(), 1);
        assert!(!a.matches[0].primary);
    }
}
