//! A lenient JSON front end for Gerrit events: some producers (hand-edited plugin
//! configurations, older tools) emit trailing commas before `]` or `}`. They are removed outside
//! strings; anything else malformed is still an error from the JSON parser.

/// Removes commas that directly precede (ignoring whitespace) a closing `]` or `}`.
pub fn strip_trailing_commas(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b',' => {
                let next = input[i + 1..].iter().find(|b| !b.is_ascii_whitespace());
                if !matches!(next, Some(b']') | Some(b'}')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_trailing_commas_outside_strings() {
        let s = br#"{"a": [1, 2, ], "b": "x, ]", "c": {"d": 1 ,}, }"#;
        let fixed = strip_trailing_commas(s);
        let v: serde_json::Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v["a"], serde_json::json!([1, 2]));
        assert_eq!(v["b"], "x, ]");
        assert_eq!(v["c"]["d"], 1);
        let esc = br#"{"s": "quote \" , ]"}"#;
        assert_eq!(strip_trailing_commas(esc), esc.to_vec());
    }
}
