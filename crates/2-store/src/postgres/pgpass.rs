//! libpq's password file (`~/.pgpass`): lines of `host:port:database:username:password`, `*`
//! matching anything, `\` escaping `:` and `\`; the first matching line wins.

use tokio_postgres::config::Host;

/// Whether `url` carries a password (`Err`: not a PostgreSQL URL).
pub fn url_has_password(url: &str) -> Result<bool, String> {
    url.parse::<tokio_postgres::Config>()
        .map(|c| c.get_password().is_some())
        .map_err(|e| e.to_string())
}

/// The password the file's `text` gives for the server, database and user of `url`.
pub fn pgpass_lookup(text: &str, url: &str) -> Option<String> {
    let c = url.parse::<tokio_postgres::Config>().ok()?;
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(_)) | None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = c.get_user().unwrap_or_default().to_string();
    let db = c.get_dbname().map_or_else(|| user.clone(), str::to_string);
    let wanted = [host.as_str(), port.as_str(), db.as_str(), user.as_str()];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .find_map(|line| {
            let fields = split(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(wanted)
                .all(|(f, w)| f == "*" || f == w);
            matches.then(|| fields[4].clone())
        })
}

/// The fields of a line, unescaped.
fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                if let Some(next) = chars.next()
                    && let Some(f) = fields.last_mut()
                {
                    f.push(next);
                }
            }
            ':' => fields.push(String::new()),
            other => {
                if let Some(f) = fields.last_mut() {
                    f.push(other);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    other:5432:*:canopy:nope\n\
                    db.example:5433:canopy:canopy:pa\\:ss\\\\word\n\
                    *:*:*:canopy:fallback\n";
        assert_eq!(
            pgpass_lookup(text, "postgres://canopy@db.example:5433/canopy").as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            pgpass_lookup(text, "postgres://canopy@elsewhere/canopy").as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_lookup(text, "postgres://root@db.example/x"), None);
        assert_eq!(url_has_password("postgres://u:p@h/d"), Ok(true));
        assert_eq!(url_has_password("postgres://u@h/d"), Ok(false));
    }
}
