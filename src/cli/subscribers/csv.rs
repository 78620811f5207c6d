//! CSV for `pharos subscribers export` and `import`: our own export, and Statuspage's subscriber
//! files.

use super::*;

/// The columns `export` writes (and `import` reads back).
pub(super) const EXPORT_HEADER: [&str; 6] = [
    "email",
    "state",
    "components",
    "created_at",
    "confirmed_at",
    "source",
];

pub fn export_csv(subs: &[Subscriber]) -> String {
    let mut out = csv_line(&EXPORT_HEADER.map(String::from));
    for s in subs {
        out.push_str(&csv_line(&[
            s.address.clone(),
            state(s).into(),
            s.components.join(";"),
            crate::time::iso(s.created_at),
            s.confirmed_at.map(crate::time::iso).unwrap_or_default(),
            s.source.clone(),
        ]));
    }
    out
}

/// One CSV record (RFC 4180): a field with a comma, quote or line break is quoted.
pub(super) fn csv_line(fields: &[String]) -> String {
    let cells: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    format!("{}\r\n", cells.join(","))
}

/// A CSV record: the line it starts on, its fields.
pub type Record = (usize, Vec<String>);

/// CSV records (RFC 4180: quoted fields with `""` and line breaks inside), each with the line
/// it starts on. A leading byte-order mark is skipped; blank lines give no record.
pub fn parse_csv(text: &str) -> Result<Vec<Record>, (usize, &'static str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut line = 1;
    let mut start = 1;
    let mut field = String::new();
    let mut fields: Vec<String> = Vec::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut end_record = |fields: &mut Vec<String>, field: &mut String, start: usize| {
        fields.push(std::mem::take(field));
        let record = std::mem::take(fields);
        if !(record.len() == 1 && record[0].trim().is_empty()) {
            records.push((start, record));
        }
    };
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            ',' => fields.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                end_record(&mut fields, &mut field, start);
                line += 1;
                start = line;
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err((start, "a quoted field is not closed"));
    }
    if !field.is_empty() || !fields.is_empty() {
        end_record(&mut fields, &mut field, start);
    }
    Ok(records)
}

/// A header name without case, spaces and punctuation: `Email Address` -> `emailaddress`.
pub(super) fn key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .flat_map(|c| c.to_lowercase())
        .collect()
}

pub(super) const EMAIL_HEADERS: [&str; 6] = [
    "email",
    "emailaddress",
    "mail",
    "emails",
    "address",
    "recipient",
];
pub(super) const TYPE_HEADERS: [&str; 5] = ["type", "subscribertype", "mode", "method", "channel"];
pub(super) const COMPONENT_HEADERS: [&str; 6] = [
    "components",
    "component",
    "componentids",
    "componentnames",
    "subscribedcomponents",
    "componentlist",
];
pub(super) const STATE_HEADERS: [&str; 4] = ["state", "status", "confirmed", "subscriptionstate"];
/// Subscriber types of Statuspage that are not email (skipped, not errors).
pub(super) const OTHER_TYPES: [&str; 6] = ["sms", "webhook", "slack", "teams", "msteams", "phone"];

/// One row of an import file to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub address: String,
    /// Empty: all.
    pub components: Vec<String>,
    /// The file says this address has not confirmed (it gets the confirmation email even with
    /// `--confirmed`).
    pub pending: bool,
}

/// What an import file holds: rows to add, lines skipped (another subscriber type), and the
/// problem of each invalid line (never quoting its address).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportFile {
    pub rows: Vec<Row>,
    pub skipped: Vec<(usize, String)>,
    pub invalid: Vec<(usize, String)>,
}

/// Read an import file against the config's components. `Err` is a problem of the whole file
/// (no email column, a quote never closed).
pub fn read_import(text: &str, config: &Config) -> Result<ImportFile, String> {
    let records = parse_csv(text).map_err(|(line, e)| format!("line {line}: {e}"))?;
    let mut file = ImportFile::default();
    let Some((_, first)) = records.first() else {
        return Ok(file);
    };
    let is_address = |c: &str| normalize_address(c).is_ok();
    let header = !first.iter().any(|c| is_address(c));
    let find = |names: &[&str], cells: &[String]| {
        cells.iter().position(|c| names.contains(&key(c).as_str()))
    };
    let comp_of = |name: &str| -> Option<String> {
        let k = key(name);
        config
            .components
            .iter()
            .find(|c| key(&c.id) == k || key(&c.name) == k)
            .map(|c| c.id.to_string())
    };
    let known = || {
        config
            .components
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    struct Columns {
        email: usize,
        kind: Option<usize>,
        components: Option<usize>,
        state: Option<usize>,
        /// Columns named after a component: (column, component id).
        per_component: Vec<(usize, String)>,
    }
    let body: &[Record];
    let columns = if header {
        body = &records[1..];
        let email = find(&EMAIL_HEADERS, first)
            .or_else(|| first.iter().position(|c| key(c).starts_with("email")))
            .ok_or_else(|| {
                format!(
                    "line {}: no email column in the header (looked for a column named email or Email Address, in any case)",
                    records[0].0
                )
            })?;
        let taken = [
            Some(email),
            find(&TYPE_HEADERS, first),
            find(&COMPONENT_HEADERS, first),
            find(&STATE_HEADERS, first),
        ];
        Some(Columns {
            email,
            kind: taken[1],
            components: taken[2],
            state: taken[3],
            per_component: first
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken.contains(&Some(*i)))
                .filter_map(|(i, c)| comp_of(c).map(|id| (i, id)))
                .collect(),
        })
    } else {
        body = &records[..];
        None
    };
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for (line, cells) in body {
        let cell = |i: usize| cells.get(i).map(|c| c.trim()).unwrap_or("");
        // (address cell, components cell, per-component choices, pending)
        let (raw, list, mut chosen, pending) = match &columns {
            Some(cols) => {
                let kind = cols.kind.map(cell).unwrap_or("");
                if !kind.is_empty() && !kind.eq_ignore_ascii_case("email") {
                    file.skipped.push((*line, kind.to_lowercase()));
                    continue;
                }
                let state = cols.state.map(cell).unwrap_or("").to_ascii_lowercase();
                let pending = [
                    "pending",
                    "unconfirmed",
                    "false",
                    "no",
                    "0",
                    "not confirmed",
                ]
                .contains(&state.as_str());
                let chosen: Vec<String> = cols
                    .per_component
                    .iter()
                    .filter(|(i, _)| {
                        ["yes", "true", "1", "x", "y", "subscribed"]
                            .contains(&cell(*i).to_ascii_lowercase().as_str())
                    })
                    .map(|(_, id)| id.clone())
                    .collect();
                (
                    cell(cols.email),
                    cols.components.map(cell).unwrap_or(""),
                    chosen,
                    pending,
                )
            }
            // Statuspage's import template: type, address, skip confirmation, ...
            None if OTHER_TYPES.contains(&cell(0).to_ascii_lowercase().as_str()) => {
                file.skipped.push((*line, cell(0).to_lowercase()));
                continue;
            }
            None if cell(0).eq_ignore_ascii_case("email") => (cell(1), "", Vec::new(), false),
            // A plain list: the address, optionally its components.
            None => (cell(0), cell(1), Vec::new(), false),
        };
        if raw.is_empty() {
            file.invalid.push((*line, "no address".into()));
            continue;
        }
        let address = match normalize_address(raw) {
            Ok(a) => a,
            Err(e) => {
                file.invalid
                    .push((*line, format!("not an email address: {e}")));
                continue;
            }
        };
        let mut unknown = Vec::new();
        for name in list
            .split([';', ',', '|'])
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            match comp_of(name) {
                Some(id) => chosen.push(id),
                None => unknown.push(format!("{name:?}")),
            }
        }
        if !unknown.is_empty() {
            file.invalid.push((
                *line,
                format!(
                    "unknown component{} {} (known: {})",
                    plural(unknown.len()),
                    unknown.join(", "),
                    known()
                ),
            ));
            continue;
        }
        let mut components: Vec<String> = Vec::new();
        for c in chosen {
            if !components.contains(&c) {
                components.push(c);
            }
        }
        // Every component named is "all": it follows components added later too.
        if components.len() == config.components.len() {
            components.clear();
        }
        // The store compares addresses without case, as most mail servers do.
        if let Some(first) = seen.get(&address.to_lowercase()) {
            file.skipped
                .push((*line, format!("the same address as line {first}")));
            continue;
        }
        seen.insert(address.to_lowercase(), *line);
        file.rows.push(Row {
            line: *line,
            address,
            components,
            pending,
        });
    }
    Ok(file)
}

/// Some lines of an import file were invalid (already printed; the others were imported).
#[derive(Debug, thiserror::Error)]
#[error("{0} invalid line{s} not imported", s = plural(*.0))]
pub struct InvalidLines(pub usize);

pub(super) fn import(
    config: &Config,
    s: &Subscriptions,
    path: &Path,
    confirmed: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let shown = crate::admin::shown(path);
    let file = read_import(&text, config).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let mut store = Store::open(&config.database_path())?;
    let (mut pending, mut subscribed, mut there) = (0, 0, 0);
    for row in &file.rows {
        match store.subscriber_add(
            &row.address,
            &row.components,
            confirmed && !row.pending,
            "import",
            s,
            now,
        )? {
            Added::Confirmed => subscribed += 1,
            Added::Pending => pending += 1,
            Added::Exists => there += 1,
        }
    }
    println!(
        "{shown}: added {} ({subscribed} confirmed, {pending} pending: {}), {there} already there (left as they are), {} skipped, {} invalid",
        subscribed + pending,
        if pending == 0 {
            "no confirmation email".to_string()
        } else {
            "their confirmation emails go out when the daemon runs".to_string()
        },
        file.skipped.len(),
        file.invalid.len()
    );
    for (line, why) in &file.skipped {
        println!("{shown}:{line}: skipped: {why}");
    }
    for (line, why) in &file.invalid {
        println!("{shown}:{line}: invalid: {why}");
    }
    if !file.invalid.is_empty() {
        println!(
            "the valid lines were imported; fix the invalid ones and import the file again (addresses already there stay as they are)"
        );
        return Err(InvalidLines(file.invalid.len()).into());
    }
    Ok(())
}
