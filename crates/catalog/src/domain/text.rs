//! Text matching shared by region/symptom resolution and search: one
//! normalisation, one word similarity, one vocabulary lookup.
//!
//! Matching is deliberately simple and predictable: lower-cased ASCII words,
//! exact phrase first, then filler words dropped, then a contained phrase,
//! then a typo-tolerant comparison (optimal string alignment distance).

use std::collections::HashMap;

/// Words that carry no location or symptom of their own ("pain in my lower
/// back"). They are dropped when the exact phrase did not match.
const FILLER: &[&str] = &[
    "a", "an", "the", "my", "in", "on", "at", "of", "around", "and", "with", "is", "it", "i",
    "have", "pain", "pains", "painful", "ache", "aches", "aching", "achy", "hurts", "hurt",
    "hurting", "sore", "soreness", "area", "region", "part",
];

/// Lower-cases, drops apostrophes, turns every other non-alphanumeric
/// character into a space and collapses runs of spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text.chars() {
        if c == '\'' || c == '\u{2019}' {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The words of a normalised text.
pub fn words(normalized: &str) -> Vec<&str> {
    normalized.split(' ').filter(|w| !w.is_empty()).collect()
}

/// Whether a word is filler.
pub fn is_filler(word: &str) -> bool {
    FILLER.contains(&word)
}

/// The words without filler, singular-folded; all words when only filler
/// remains ("pain" alone still means the symptom).
pub fn content_words(normalized: &str) -> Vec<String> {
    let all = words(normalized);
    let kept: Vec<&str> = all.iter().copied().filter(|w| !is_filler(w)).collect();
    let chosen = if kept.is_empty() { all } else { kept };
    chosen.into_iter().map(fold).collect()
}

/// Folds simple English plurals so "temples" meets "temple" and "calves"
/// meets "calf" often enough to help; never shortens words under 4 letters.
pub fn fold(word: &str) -> String {
    if word.len() > 4 && word.ends_with("ves") {
        return format!("{}f", &word[..word.len() - 3]);
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_owned();
    }
    word.to_owned()
}

/// The similarity of a word to a longer word it begins.
pub const PREFIX: f64 = 0.85;

/// Similarity of a query word to a catalog word in 0..=1: 1 for equal, 0.85
/// for a prefix of at least three letters, the normalised optimal string
/// alignment similarity (scaled by 0.95) within a few typos, else 0.
pub fn word_similarity(query: &str, word: &str) -> f64 {
    similarity(query, query.chars().count(), word, word.chars().count())
}

/// [`word_similarity`] with both lengths in characters given (`ql` of
/// `query`, `wl` of `word`), for callers that compare one word with many.
pub fn similarity(query: &str, ql: usize, word: &str, wl: usize) -> f64 {
    if query == word {
        return 1.0;
    }
    if ql >= 3 && word.starts_with(query) {
        return PREFIX;
    }
    // Typos allowed grow with the word: none under 5 letters (calf/half),
    // one up to 7, two from 8 (trapezious/trapezius).
    let longest = ql.max(wl);
    let allowed = match longest {
        0..=4 => return 0.0,
        5..=7 => 1,
        _ => 2,
    };
    if ql < 4 || ql.abs_diff(wl) > allowed || bag_distance_exceeds(query, word, allowed) {
        return 0.0;
    }
    let dist = strsim::osa_distance(query, word);
    if dist > allowed {
        return 0.0;
    }
    (1.0 - dist as f64 / longest as f64) * 0.95
}

/// Whether the bag distance of two ASCII words exceeds `limit`: the
/// characters one has and the other lacks, counted with repeats, on the
/// side with more. An insertion, deletion or substitution changes each side
/// by at most one and a transposition by nothing, so the bag distance never
/// exceeds the optimal string alignment distance: a pair over the limit is
/// no match, and the (much dearer) distance need not be computed. Always
/// false for non-ASCII words (no shortcut, same answer).
fn bag_distance_exceeds(a: &str, b: &str, limit: usize) -> bool {
    if !a.is_ascii() || !b.is_ascii() {
        return false;
    }
    let mut counts = [0i32; 128];
    for &c in a.as_bytes() {
        counts[usize::from(c)] += 1;
    }
    for &c in b.as_bytes() {
        counts[usize::from(c)] -= 1;
    }
    let (mut only_a, mut only_b) = (0, 0);
    for n in counts {
        if n > 0 {
            only_a += n.unsigned_abs() as usize;
        } else {
            only_b += n.unsigned_abs() as usize;
        }
    }
    only_a.max(only_b) > limit
}

/// Similarity of two whole phrases (content words compared in order).
pub fn phrase_similarity(query: &str, key: &str) -> f64 {
    if query == key {
        return 1.0;
    }
    let (ql, kl) = (query.chars().count(), key.chars().count());
    if ql < 4 || kl < 4 {
        return 0.0;
    }
    let dist = strsim::osa_distance(query, key);
    1.0 - dist as f64 / ql.max(kl) as f64
}

/// A phrase that stands for one entry of a table.
#[derive(Debug, Clone)]
struct Key {
    target: usize,
    /// Content words, singular-folded.
    words: Vec<String>,
    /// The content words joined by spaces.
    joined: String,
}

/// How a text was matched to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchHow {
    /// The exact phrase (after normalisation).
    Exact,
    /// The phrase without filler words.
    Content,
    /// A known phrase found inside a longer text.
    Contained,
    /// Within a small number of typos.
    Fuzzy,
}

/// A lookup table from phrases (ids, names, synonyms) to entries, tolerant of
/// case, filler words, plurals and typos.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    exact: HashMap<String, usize>,
    content: HashMap<String, usize>,
    keys: Vec<Key>,
}

/// Two entries claim the same phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The normalised phrase.
    pub phrase: String,
    /// The entry that claimed it first.
    pub first: usize,
    /// The entry that claimed it again.
    pub second: usize,
}

impl Vocabulary {
    /// Adds the phrases of entry `target`. Fails when a phrase already belongs
    /// to another entry (the vocabulary would be ambiguous).
    pub fn add(&mut self, target: usize, phrase: &str) -> Result<(), Collision> {
        let norm = normalize(&phrase.replace('_', " "));
        if norm.is_empty() {
            return Ok(());
        }
        match self.exact.get(&norm) {
            Some(&t) if t != target => {
                return Err(Collision {
                    phrase: norm,
                    first: t,
                    second: target,
                });
            }
            Some(_) => return Ok(()),
            None => {}
        }
        self.exact.insert(norm.clone(), target);
        let words = content_words(&norm);
        let joined = words.join(" ");
        // Content forms may collide harmlessly ("top of shoulder" and
        // "shoulder top"); the first owner keeps such a form.
        self.content.entry(joined.clone()).or_insert(target);
        self.keys.push(Key {
            target,
            words,
            joined,
        });
        Ok(())
    }

    /// Finds the entry a text names, or `None`.
    pub fn resolve(&self, text: &str) -> Option<(usize, MatchHow)> {
        let norm = normalize(&text.replace('_', " "));
        if norm.is_empty() {
            return None;
        }
        if let Some(&t) = self.exact.get(&norm) {
            return Some((t, MatchHow::Exact));
        }
        let words = content_words(&norm);
        let joined = words.join(" ");
        if let Some(&t) = self.content.get(&joined) {
            return Some((t, MatchHow::Content));
        }
        // The longest known phrase inside the text ("dull pain in the lower
        // back when sitting").
        let mut best: Option<(&Key, usize)> = None;
        for key in &self.keys {
            if key.words.is_empty() || key.words.len() > words.len() {
                continue;
            }
            let found = words
                .windows(key.words.len())
                .any(|w| w.iter().zip(&key.words).all(|(a, b)| a == b));
            if found {
                let len = key.joined.len();
                if best.is_none_or(|(_, l)| len > l) {
                    best = Some((key, len));
                }
            }
        }
        if let Some((key, _)) = best {
            return Some((key.target, MatchHow::Contained));
        }
        // Typos: the closest phrase, if close enough.
        let mut best: Option<(usize, f64)> = None;
        for key in &self.keys {
            let sim = phrase_similarity(&joined, &key.joined);
            if sim >= 0.8 && best.is_none_or(|(_, s)| sim > s) {
                best = Some((key.target, sim));
            }
        }
        best.map(|(t, _)| (t, MatchHow::Fuzzy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_case_and_punctuation() {
        assert_eq!(normalize("  Lower-BACK!! "), "lower back");
        assert_eq!(normalize("can't open"), "cant open");
        assert_eq!(normalize("regions/low_back"), "regions low back");
    }

    #[track_caller]
    fn check_sim(q: &str, w: &str, expect_match: bool) {
        let s = word_similarity(q, w);
        assert_eq!(s > 0.0, expect_match, "{q} ~ {w}: {s}");
    }

    /// The bag distance never exceeds the optimal string alignment
    /// distance, so the shortcut never drops a match: random short ASCII
    /// words, many close to each other.
    #[test]
    fn bag_distance_is_a_lower_bound_of_osa() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let mut checked_over = 0;
        for _ in 0..20_000 {
            let len = 1 + next(10) as usize;
            let a: String = (0..len).map(|_| (b'a' + next(6) as u8) as char).collect();
            let mut b: Vec<u8> = a.clone().into_bytes();
            for _ in 0..next(4) {
                let i = next(b.len() as u64) as usize;
                match next(4) {
                    0 => b[i] = b'a' + next(6) as u8,
                    1 => b.insert(i, b'a' + next(6) as u8),
                    2 if b.len() > 1 => {
                        b.remove(i);
                    }
                    _ if i + 1 < b.len() => b.swap(i, i + 1),
                    _ => {}
                }
            }
            let b = String::from_utf8(b).unwrap();
            let osa = strsim::osa_distance(&a, &b);
            for limit in 0..4 {
                if bag_distance_exceeds(&a, &b, limit) {
                    checked_over += 1;
                    assert!(osa > limit, "{a} {b}: osa {osa}, bag over {limit}");
                }
            }
        }
        assert!(checked_over > 1000, "the shortcut was rarely taken");
        assert!(
            !bag_distance_exceeds("ĉeval", "xxxxxxx", 0),
            "non-ASCII: no shortcut"
        );
    }

    #[test]
    fn word_similarity_tolerates_small_typos_only() {
        check_sim("trapezious", "trapezius", true);
        check_sim("lacrosse", "lacrosse", true);
        check_sim("lacrose", "lacrosse", true);
        check_sim("shin", "shin", true);
        check_sim("sho", "shoulder", true);
        check_sim("ear", "eye", false);
        check_sim("neck", "back", false);
        check_sim("calf", "half", false);
    }

    fn vocab() -> Vocabulary {
        let mut v = Vocabulary::default();
        for (t, phrases) in [
            (0, vec!["low_back", "Low back", "lower back", "lumbar"]),
            (1, vec!["temple", "Temple", "temples", "side of head"]),
            (2, vec!["thigh_back", "Back of thigh", "hamstring area"]),
        ] {
            for p in phrases {
                v.add(t, p).unwrap();
            }
        }
        v
    }

    #[track_caller]
    fn check(text: &str, expected: Option<(usize, MatchHow)>) {
        assert_eq!(vocab().resolve(text), expected, "{text}");
    }

    #[test]
    fn resolution_table() {
        use MatchHow::*;
        check("low_back", Some((0, Exact)));
        check("LUMBAR", Some((0, Exact)));
        check("Lower Back", Some((0, Exact)));
        check("pain in my lower back", Some((0, Content)));
        check("dull ache lower back when sitting", Some((0, Contained)));
        check("lowr back", Some((0, Fuzzy)));
        check("temples", Some((1, Exact)));
        check("templ", Some((1, Fuzzy)));
        check("the back of my thigh", Some((2, Content)));
        check("elbow", None);
        check("", None);
    }

    #[test]
    fn colliding_phrases_are_refused() {
        let mut v = vocab();
        let err = v.add(5, "Lumbar").unwrap_err();
        assert_eq!((err.first, err.second), (0, 5));
        assert!(v.add(0, "lumbar").is_ok());
    }
}
