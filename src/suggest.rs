//! "Did you mean" hints for ids, names and statuses.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo;
/// else the one candidate that `word` begins (`partial` for `partial_outage`). Case is ignored.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    closest_within(word, candidates, (word.trim().chars().count() / 3).max(1))
}

/// Words longer than this get no suggestion (ids are at most 100 characters; comparing a huge
/// word with every name would cost far more than the hint is worth).
const MAX_WORD: usize = 128;

/// [`closest`] with at most `limit` edits (for names whose shared parts make long words close:
/// `Europe/Atlantis` is no typo of `Europe/Athens`).
pub fn closest_within<'a>(word: &str, candidates: &[&'a str], limit: usize) -> Option<&'a str> {
    let word = word.trim();
    let len = word.chars().count();
    if len == 0 || len > MAX_WORD {
        return None;
    }
    let lower: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
    let near = candidates
        .iter()
        // More edits than the lengths differ by: no need to count them.
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (distance(&lower, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c);
    near.or_else(|| {
        let mut starting = candidates.iter().filter(|c| {
            let mut chars = c.chars().flat_map(char::to_lowercase);
            c.len() > word.len() && lower.iter().all(|w| chars.next() == Some(*w))
        });
        match (starting.next(), starting.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

/// ` (did you mean "x"?)` for the closest candidate, or nothing.
pub fn hint(word: &str, candidates: &[&str]) -> String {
    closest(word, candidates)
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default()
}

/// Edit distance from `a` (lowercase) to `b` over chars, case ignored, a swap of two neighbours
/// counting as one edit (`titel`: `title`).
fn distance(a: &[char], b: &str) -> usize {
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    // Rows i-2, i-1 and i of the table.
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            cur[j] = (prev[j - 1] + usize::from(a[i - 1] != b[j - 1]))
                .min(prev[j] + 1)
                .min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_near_misses_only() {
        let ids = ["api", "database", "website"];
        assert_eq!(super::closest("databse", &ids), Some("database"));
        assert_eq!(super::closest("apj", &ids), Some("api"));
        assert_eq!(super::closest("websit", &ids), Some("website"));
        assert_eq!(super::closest("zzzzzz", &ids), None);
        assert_eq!(super::closest("", &ids), None);
        assert_eq!(super::closest("titel", &["title", "theme"]), Some("title"));
        let d = |a: &str, b: &str| super::distance(&a.chars().collect::<Vec<_>>(), b);
        assert_eq!(d("ab", "ba"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("europe/berlin", "Europe/Berlin"), 0);
        assert_eq!(super::closest(&"x".repeat(10_000), &ids), None);
    }

    #[test]
    fn suggests_the_one_name_a_word_begins() {
        let statuses = ["degraded_performance", "partial_outage", "major_outage"];
        assert_eq!(super::closest("partial", &statuses), Some("partial_outage"));
        assert_eq!(
            super::closest("degraded", &statuses),
            Some("degraded_performance")
        );
        assert_eq!(super::closest("Major", &statuses), Some("major_outage"));
        // Two names begin with it: no guess.
        assert_eq!(super::closest("p", &["partial", "postmortem"]), None);
        assert_eq!(
            super::hint("Europe/Berln", &["Europe/Berlin", "Europe/Bern"]),
            " (did you mean \"Europe/Berlin\"?)"
        );
    }
}
