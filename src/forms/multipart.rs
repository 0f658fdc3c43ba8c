//! `multipart/form-data` bodies as browsers write them (HTML standard, "multipart/form-data
//! encoding algorithm"; RFC 7578), read strictly from memory: every part has a
//! `Content-Disposition: form-data; name="..."` header, file parts a `filename` and usually a
//! `Content-Type`. Names and filenames are kept exactly as written between the quotes:
//! browsers escape `"`, CR and LF as `%22`, `%0D`, `%0A` and nothing else, so a name written
//! back into a form is sent again with the same bytes (a backslash is a plain character, as for
//! browsers; curl's `\"` escape therefore does not parse). Anything else (a preamble,
//! `filename*=`, other part headers, a missing final delimiter) is refused: such a body cannot
//! be sent again exactly.

use super::{encode_file, Field, FormError, Value};

const BAD: FormError = FormError::Malformed("multipart");

/// RFC 2046: 1 to 70 characters from a small set (browsers use letters, digits and `-`).
pub(super) fn valid_boundary(b: &str) -> bool {
    (1..=70).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=?".contains(&c))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn parse(body: &[u8], boundary: &[u8]) -> Result<Vec<Field>, FormError> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let mut rest = body.strip_prefix(delimiter.as_slice()).ok_or(BAD)?;
    let mut next = b"\r\n".to_vec();
    next.extend_from_slice(&delimiter);
    let mut fields = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            // The close delimiter; browsers end with CRLF, an epilogue is ignored.
            return Ok(fields);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(BAD)?;
        if fields.len() >= super::MAX_FIELDS {
            return Err(FormError::TooManyFields);
        }
        let head_end = find(rest, b"\r\n\r\n").ok_or(BAD)?;
        let head = &rest[..head_end];
        rest = &rest[head_end + 4..];
        let end = find(rest, &next).ok_or(BAD)?;
        let content = &rest[..end];
        rest = &rest[end + next.len()..];
        fields.push(part(head, content)?);
    }
}

/// One part from its header block and content.
fn part(head: &[u8], content: &[u8]) -> Result<Field, FormError> {
    let head = std::str::from_utf8(head).map_err(|_| FormError::NotUtf8)?;
    let mut disposition = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let (name, value) = line.split_once(':').ok_or(BAD)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            if disposition.replace(value).is_some() {
                return Err(BAD);
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            if content_type.replace(value).is_some()
                || !value.bytes().all(|b| (0x20..0x7f).contains(&b))
            {
                return Err(BAD);
            }
        } else {
            // Content-Transfer-Encoding and friends: not what browsers send.
            return Err(BAD);
        }
    }
    let (name, filename) = disposition_params(disposition.ok_or(BAD)?)?;
    let value = match filename {
        None => Value::Text(String::from_utf8(content.to_vec()).map_err(|_| FormError::NotUtf8)?),
        Some(filename) => Value::File {
            filename,
            content_type: content_type
                .unwrap_or("application/octet-stream")
                .to_string(),
            data: encode_file(content),
        },
    };
    Ok(Field { name, value })
}

/// `form-data; name="..."[; filename="..."]`: the name and the filename, as written.
fn disposition_params(v: &str) -> Result<(String, Option<String>), FormError> {
    let mut rest = v.strip_prefix("form-data").ok_or(BAD)?;
    let mut name = None;
    let mut filename = None;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest.strip_prefix(';').ok_or(BAD)?.trim_start();
        let (key, after) = rest.split_once('=').ok_or(BAD)?;
        let after = after.strip_prefix('"').ok_or(BAD)?;
        let close = after.find('"').ok_or(BAD)?;
        let value = &after[..close];
        rest = &after[close + 1..];
        let slot = match key.trim() {
            "name" => &mut name,
            "filename" => &mut filename,
            _ => return Err(BAD),
        };
        if slot.replace(value.to_string()).is_some() {
            return Err(BAD);
        }
    }
    Ok((name.ok_or(BAD)?, filename))
}
