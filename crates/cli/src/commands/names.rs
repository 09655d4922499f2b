//! Display names for the resource names an answer carries, so people read
//! "Tennis ball" and "Pregnancy", never `tools/tennis_ball` (issue 14:
//! people never see raw ids). Looked up once per command; when the catalog
//! cannot answer, a name falls back to its id with spaces.

use std::collections::HashMap;

use knotwork_proto::catalog::v1 as cat;

use crate::connect::Ctx;
use crate::output::short;

/// Display names by resource name.
#[derive(Debug, Default)]
pub struct Names(HashMap<String, String>);

impl Names {
    /// The tools and screening conditions, and the trigger points `points`
    /// (resource names), from the catalog.
    pub async fn load(ctx: &Ctx, points: &[String]) -> Self {
        let mut out = HashMap::new();
        let Ok(mut c) = ctx.catalog().await else {
            return Self(out);
        };
        if let Ok(r) = c
            .list_tools(cat::ListToolsRequest {
                page_size: 500,
                ..Default::default()
            })
            .await
        {
            for t in r.into_inner().tools {
                out.insert(t.name, t.display_name);
            }
        }
        if let Ok(r) = c
            .list_contraindications(cat::ListContraindicationsRequest::default())
            .await
        {
            for x in r.into_inner().contraindications {
                out.insert(x.name, x.display_name);
            }
        }
        let mut wanted: Vec<String> = points.to_vec();
        wanted.sort();
        wanted.dedup();
        for chunk in wanted.chunks(100) {
            if let Ok(r) = c
                .batch_get_trigger_points(cat::BatchGetTriggerPointsRequest {
                    names: chunk.to_vec(),
                })
                .await
            {
                for tp in r.into_inner().trigger_points {
                    out.insert(tp.name, tp.display_name);
                }
            }
        }
        Self(out)
    }

    /// Adds the symptoms' names, for the one answer that lists symptoms (a
    /// point's facts): not a call every command makes.
    pub async fn add_symptoms(&mut self, ctx: &Ctx) {
        let Ok(mut c) = ctx.catalog().await else {
            return;
        };
        if let Ok(r) = c.list_symptoms(cat::ListSymptomsRequest {}).await {
            for x in r.into_inner().symptoms {
                self.0.insert(x.name, x.display_name);
            }
        }
    }

    /// The names of `points` (trigger point resource names) for a human
    /// answer: none are fetched when the answer is JSON or names no point.
    pub async fn for_points<'a>(ctx: &Ctx, points: impl Iterator<Item = &'a String>) -> Self {
        // `load` sorts and drops repeats.
        let wanted: Vec<String> = points.cloned().collect();
        if ctx.out.json || wanted.is_empty() {
            return Self::default();
        }
        Self::load(ctx, &wanted).await
    }

    /// Known names only (tests, or answers that carry their own names).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Adds a name the answer itself carries.
    pub fn insert(&mut self, name: &str, display: &str) {
        if !display.is_empty() {
            self.0.insert(name.to_owned(), display.to_owned());
        }
    }

    /// The display name of `name`, or its id with spaces.
    pub fn of(&self, name: &str) -> String {
        self.0
            .get(name)
            .cloned()
            .unwrap_or_else(|| short(name).replace('_', " "))
    }

    /// Several display names, joined with ", ".
    pub fn list(&self, names: &[String]) -> String {
        names
            .iter()
            .map(|n| self.of(n))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_or_the_id_with_spaces() {
        let n = Names::from_pairs([("tools/tennis_ball", "Tennis ball")]);
        let check = |name: &str, expected: &str| assert_eq!(n.of(name), expected, "{name}");
        check("tools/tennis_ball", "Tennis ball");
        check("tools/lacrosse_ball", "lacrosse ball");
        check("contraindications/blood_thinners", "blood thinners");
        assert_eq!(
            n.list(&["tools/tennis_ball".into(), "tools/golf_ball".into()]),
            "Tennis ball, golf ball"
        );
    }
}
