//! Free-text search across muscles, trigger points, regions, symptoms and
//! tools, tolerant of typos and case.
//!
//! The index is built once per catalog version: every distinct word of every
//! searchable field goes into one dictionary, so a query compares each of its
//! words against the dictionary once and then scores fields by lookup.

use std::collections::HashMap;

use super::model::CatalogData;
use super::text::{PREFIX, content_words, fold, normalize, similarity, words};

/// The kind of resource a hit points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A body region.
    Region,
    /// A muscle.
    Muscle,
    /// A trigger point.
    TriggerPoint,
    /// A tool.
    Tool,
    /// A symptom.
    Symptom,
}

#[derive(Debug, Clone)]
struct Field {
    /// The original text, returned as `matched_text`.
    text: String,
    /// The whole field normalised, for the exact-phrase bonus.
    norm: String,
    /// Dictionary ids of the field's words.
    words: Vec<usize>,
    weight: f64,
    /// Long prose fields only match whole words, never typos: a typo match
    /// somewhere in a description is noise.
    fuzzy: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    index: usize,
    fields: Vec<Field>,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The kind of resource.
    pub kind: Kind,
    /// Its index in its table.
    pub index: usize,
    /// The text that matched best.
    pub matched_text: String,
    /// Relevance; higher is better.
    pub score: f64,
}

/// The search index of one catalog version.
#[derive(Debug, Clone, Default)]
pub struct SearchIndex {
    dictionary: Vec<String>,
    /// The length in characters of each dictionary word.
    lengths: Vec<usize>,
    entries: Vec<Entry>,
}

/// Hits below this score are left out.
const MIN_SCORE: f64 = 0.4;

/// How well one query word (its similarity to each dictionary word, by
/// dictionary id) matches a field: the best of the field's words.
fn word_in_field(q: &[f64], f: &Field) -> f64 {
    f.words
        .iter()
        .map(|&w| q[w])
        .filter(|&s| s > 0.0 && (f.fuzzy || s >= 0.99))
        .fold(0.0, f64::max)
}

struct Builder {
    ids: HashMap<String, usize>,
    dictionary: Vec<String>,
}

impl Builder {
    fn field(&mut self, text: &str, weight: f64, fuzzy: bool) -> Field {
        let norm = normalize(&text.replace('_', " "));
        let mut ids = Vec::new();
        for w in words(&norm) {
            let w = fold(w);
            let next = self.dictionary.len();
            let id = *self.ids.entry(w.clone()).or_insert(next);
            if id == next {
                self.dictionary.push(w);
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Field {
            text: text.to_owned(),
            norm,
            words: ids,
            weight,
            fuzzy,
        }
    }
}

impl SearchIndex {
    /// Builds the index of a catalog's content.
    pub fn build(data: &CatalogData) -> Self {
        let mut b = Builder {
            ids: HashMap::new(),
            dictionary: Vec::new(),
        };
        let region_name: HashMap<&str, &str> = data
            .regions
            .iter()
            .map(|r| (r.id.as_str(), r.name.as_str()))
            .collect();
        let symptom_name: HashMap<&str, &str> = data
            .symptoms
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str()))
            .collect();
        let mut entries = Vec::new();
        for (i, r) in data.regions.iter().enumerate() {
            let mut fields = vec![b.field(&r.name, 1.0, true)];
            fields.extend(r.synonyms.iter().map(|s| b.field(s, 0.95, true)));
            fields.push(b.field(&r.area, 0.5, true));
            entries.push(Entry {
                kind: Kind::Region,
                index: i,
                fields,
            });
        }
        for (i, s) in data.symptoms.iter().enumerate() {
            let mut fields = vec![b.field(&s.name, 1.0, true)];
            fields.extend(s.synonyms.iter().map(|x| b.field(x, 0.95, true)));
            entries.push(Entry {
                kind: Kind::Symptom,
                index: i,
                fields,
            });
        }
        for (i, t) in data.tools.iter().enumerate() {
            let fields = vec![
                b.field(&t.name, 1.0, true),
                b.field(&t.id, 0.9, true),
                b.field(&t.description, 0.35, false),
            ];
            entries.push(Entry {
                kind: Kind::Tool,
                index: i,
                fields,
            });
        }
        // Where a muscle's points send pain, so "shin pain" finds the muscles
        // behind shin pain, not just the word "shin".
        let mut muscle_refers: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut muscle_symptoms: HashMap<&str, Vec<&str>> = HashMap::new();
        for t in &data.trigger_points {
            let syms = muscle_symptoms.entry(t.muscle.as_str()).or_default();
            for sy in &t.symptoms {
                if let Some(n) = symptom_name.get(sy.as_str())
                    && !syms.contains(n)
                {
                    syms.push(n);
                }
            }
            let list = muscle_refers.entry(t.muscle.as_str()).or_default();
            for r in &t.referrals {
                if let Some(n) = region_name.get(r.region.as_str())
                    && !list.contains(n)
                {
                    list.push(n);
                }
            }
        }
        for (i, m) in data.muscles.iter().enumerate() {
            let mut fields = vec![b.field(&m.name, 1.0, true)];
            fields.extend(m.aliases.iter().map(|a| b.field(a, 1.0, true)));
            fields.push(b.field(&m.description, 0.35, false));
            for n in muscle_refers.get(m.id.as_str()).into_iter().flatten() {
                fields.push(b.field(&format!("{n} pain"), 0.7, true));
            }
            for n in muscle_symptoms.get(m.id.as_str()).into_iter().flatten() {
                fields.push(b.field(n, 0.5, true));
            }
            entries.push(Entry {
                kind: Kind::Muscle,
                index: i,
                fields,
            });
        }
        let muscle_name: HashMap<&str, &str> = data
            .muscles
            .iter()
            .map(|m| (m.id.as_str(), m.name.as_str()))
            .collect();
        for (i, t) in data.trigger_points.iter().enumerate() {
            let mut fields = vec![b.field(&t.name, 0.95, true)];
            if let Some(n) = muscle_name.get(t.muscle.as_str()) {
                fields.push(b.field(n, 0.85, true));
            }
            fields.push(b.field(&t.location, 0.35, false));
            for r in &t.referrals {
                if let Some(n) = region_name.get(r.region.as_str()) {
                    fields.push(b.field(&format!("{n} pain"), 0.6, true));
                }
            }
            for s in &t.symptoms {
                if let Some(n) = symptom_name.get(s.as_str()) {
                    fields.push(b.field(n, 0.5, true));
                }
            }
            entries.push(Entry {
                kind: Kind::TriggerPoint,
                index: i,
                fields,
            });
        }
        SearchIndex {
            lengths: b.dictionary.iter().map(|w| w.chars().count()).collect(),
            dictionary: b.dictionary,
            entries,
        }
    }

    /// Searches, best first. `kinds` empty means every kind. Ties keep a
    /// stable order (kind, then file order), so pages never shuffle.
    pub fn search(&self, query: &str, kinds: &[Kind]) -> Vec<Hit> {
        let norm = normalize(&query.replace('_', " "));
        let qwords = content_words(&norm);
        if qwords.is_empty() {
            return Vec::new();
        }
        // Similarity of each query word to each dictionary word it resembles.
        // Only the last word may be an unfinished prefix ("lacro"): earlier
        // words were typed out, so "low back" does not match "lower leg".
        // Dense (one slot per dictionary word, 0 for no match), so scoring
        // a field is an index per word, not a hash lookup.
        let last = qwords.len() - 1;
        let sims: Vec<Vec<f64>> = qwords
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let ql = q.chars().count();
                self.dictionary
                    .iter()
                    .zip(&self.lengths)
                    .map(|(w, &wl)| {
                        let s = similarity(q, ql, w, wl);
                        if i != last && s == PREFIX { 0.0 } else { s }
                    })
                    .collect()
            })
            .collect();
        let n = qwords.len() as f64;
        let mut hits = Vec::new();
        // scores[f * sims.len() + q]: how well query word q matches field f
        // of the current entry, computed once per entry.
        let mut scores: Vec<f64> = Vec::new();
        for e in &self.entries {
            if !kinds.is_empty() && !kinds.contains(&e.kind) {
                continue;
            }
            scores.clear();
            for f in &e.fields {
                scores.extend(sims.iter().map(|q| word_in_field(q, f)));
            }
            let of = |fi: usize| &scores[fi * sims.len()..(fi + 1) * sims.len()];
            // Each query word takes its best field, so "calf cramps" can match
            // a muscle's referral zone with one word and its symptom with the
            // other; the field that explains most is shown as matched_text.
            let mut total = 0.0;
            for qi in 0..sims.len() {
                let mut best_word: f64 = 0.0;
                for (fi, f) in e.fields.iter().enumerate() {
                    best_word = best_word.max(f.weight * of(fi)[qi]);
                }
                total += best_word;
            }
            let mut best_field: Option<(f64, &Field)> = None;
            let mut exact = false;
            for (fi, f) in e.fields.iter().enumerate() {
                let covered: f64 = of(fi).iter().sum();
                let own = f.weight * covered;
                if own > 0.0 && best_field.is_none_or(|(b, _)| own > b) {
                    best_field = Some((own, f));
                }
                // Only an entry's own names earn the exact-phrase bonus, not
                // derived fields such as "shin pain" on a muscle.
                exact |= f.weight >= 0.9 && f.norm == norm;
            }
            let score = total / n + if exact { 0.25 } else { 0.0 };
            if let Some((_, f)) = best_field
                && score >= MIN_SCORE
            {
                hits.push(Hit {
                    kind: e.kind,
                    index: e.index,
                    matched_text: f.text.clone(),
                    score,
                });
            }
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.kind.cmp(&b.kind))
                .then(a.index.cmp(&b.index))
        });
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Catalog, fixture};

    /// The resource ids of the first `n` hits for `query`.
    fn top(query: &str, n: usize) -> Vec<String> {
        let c = fixture::catalog();
        let d = c.data();
        c.search(query, &[])
            .into_iter()
            .take(n)
            .map(|h| match h.kind {
                Kind::Region => format!("regions/{}", d.regions[h.index].id),
                Kind::Muscle => format!("muscles/{}", d.muscles[h.index].id),
                Kind::TriggerPoint => format!("triggerPoints/{}", d.trigger_points[h.index].id),
                Kind::Tool => format!("tools/{}", d.tools[h.index].id),
                Kind::Symptom => format!("symptoms/{}", d.symptoms[h.index].id),
            })
            .collect()
    }

    #[track_caller]
    fn check(query: &str, n: usize, expected: &str) {
        let got = top(query, n);
        assert!(
            got.iter().any(|g| g == expected),
            "{query}: {expected} not in {got:?}"
        );
    }

    #[test]
    fn search_table() {
        check("trapezious", 1, "muscles/upper_trapezius");
        check("Lacrosse", 1, "tools/lacrosse_ball");
        check("LACROSE BALL", 1, "tools/lacrosse_ball");
        check("shin pain", 1, "regions/shin");
        check("shin pain", 4, "muscles/tibialis_anterior");
        check("QL", 1, "muscles/quadratus_lumborum");
        check("psoas", 1, "muscles/iliopsoas");
        check("pins and needles", 1, "symptoms/tingling");
        check("sternocleidomastiod", 1, "muscles/sternocleidomastoid");
        check("headache", 1, "symptoms/headache");
    }

    /// The search as first written (a hash map of similarities per query
    /// word, `word_similarity` without the bag-distance shortcut, each
    /// field scored twice): the reference the faster search must equal.
    fn reference(index: &SearchIndex, query: &str, kinds: &[Kind]) -> Vec<Hit> {
        fn sim(query: &str, word: &str) -> f64 {
            if query == word {
                return 1.0;
            }
            let (ql, wl) = (query.chars().count(), word.chars().count());
            if ql >= 3 && word.starts_with(query) {
                return PREFIX;
            }
            let longest = ql.max(wl);
            let allowed = match longest {
                0..=4 => return 0.0,
                5..=7 => 1,
                _ => 2,
            };
            if ql < 4 || ql.abs_diff(wl) > allowed {
                return 0.0;
            }
            let dist = strsim::osa_distance(query, word);
            if dist > allowed {
                return 0.0;
            }
            (1.0 - dist as f64 / longest as f64) * 0.95
        }
        fn in_field(q: &HashMap<usize, f64>, f: &Field) -> f64 {
            f.words
                .iter()
                .filter_map(|w| q.get(w).copied())
                .filter(|&s| f.fuzzy || s >= 0.99)
                .fold(0.0, f64::max)
        }
        let norm = normalize(&query.replace('_', " "));
        let qwords = content_words(&norm);
        if qwords.is_empty() {
            return Vec::new();
        }
        let last = qwords.len() - 1;
        let sims: Vec<HashMap<usize, f64>> = qwords
            .iter()
            .enumerate()
            .map(|(i, q)| {
                index
                    .dictionary
                    .iter()
                    .enumerate()
                    .filter_map(|(id, w)| {
                        let s = sim(q, w);
                        let s = if i != last && s == PREFIX { 0.0 } else { s };
                        (s > 0.0).then_some((id, s))
                    })
                    .collect()
            })
            .collect();
        let n = qwords.len() as f64;
        let mut hits = Vec::new();
        for e in &index.entries {
            if !kinds.is_empty() && !kinds.contains(&e.kind) {
                continue;
            }
            let mut total = 0.0;
            for q in &sims {
                let mut best_word: f64 = 0.0;
                for f in &e.fields {
                    best_word = best_word.max(f.weight * in_field(q, f));
                }
                total += best_word;
            }
            let mut best_field: Option<(f64, &Field)> = None;
            let mut exact = false;
            for f in &e.fields {
                let covered: f64 = sims.iter().map(|q| in_field(q, f)).sum();
                let own = f.weight * covered;
                if own > 0.0 && best_field.is_none_or(|(b, _)| own > b) {
                    best_field = Some((own, f));
                }
                exact |= f.weight >= 0.9 && f.norm == norm;
            }
            let score = total / n + if exact { 0.25 } else { 0.0 };
            if let Some((_, f)) = best_field
                && score >= MIN_SCORE
            {
                hits.push(Hit {
                    kind: e.kind,
                    index: e.index,
                    matched_text: f.text.clone(),
                    score,
                });
            }
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.kind.cmp(&b.kind))
                .then(a.index.cmp(&b.index))
        });
        hits
    }

    /// The shipped catalog's search gives exactly the reference's hits
    /// (same order, same scores, same matched text) for typed words, typos,
    /// prefixes, several words, filler and kind filters.
    #[test]
    fn faster_search_equals_the_reference() {
        let c = Catalog::from_toml(include_str!("../../data/catalog.toml")).unwrap();
        let index = &c.search;
        let mut queries: Vec<String> = [
            "trapezius",
            "trapezious",
            "lacrosse",
            "lacrose ball",
            "shin pain",
            "QL",
            "headache",
            "glute",
            "psoas",
            "sternocleidomastiod",
            "pins and needles",
            "lower back pain",
            "pain in my neck",
            "tennis elbow",
            "foam",
            "sho",
            "calves",
            "xylophone",
            "the",
            "infraspinatus shoulder",
            "jaw clenching",
            "heel",
            "ĉeval",
            "Tempel",
        ]
        .map(str::to_owned)
        .to_vec();
        // Every fifth dictionary word, and typo'd versions of some.
        for (i, w) in index.dictionary.iter().enumerate().step_by(5) {
            queries.push(w.clone());
            if i % 3 == 0 && w.len() > 4 && w.is_ascii() {
                let mut b = w.clone().into_bytes();
                b.swap(1, 2);
                queries.push(String::from_utf8_lossy(&b).into_owned());
                queries.push(format!("{}x{}", &w[..2], &w[3..]));
            }
        }
        let filters = [
            vec![],
            vec![Kind::Muscle],
            vec![Kind::TriggerPoint, Kind::Tool],
        ];
        for q in &queries {
            for k in &filters {
                assert_eq!(index.search(q, k), reference(index, q, k), "{q:?} {k:?}");
            }
        }
    }

    #[test]
    fn nonsense_finds_nothing_and_kinds_filter() {
        assert!(top("xylophone", 10).is_empty());
        assert!(top("   ", 10).is_empty());
        let c = fixture::catalog();
        let hits = c.search("trapezius", &[Kind::TriggerPoint]);
        assert!(!hits.is_empty());
        assert!(hits.iter().all(|h| h.kind == Kind::TriggerPoint));
    }
}
