//! Content-type sniffing following the WHATWG algorithm that Go's
//! `http.DetectContentType` implements (the signatures users meet in practice).

const SIGNATURES: &[(&[u8], &str)] = &[
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"BM", "image/bmp"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b\x08", "application/x-gzip"),
    (b"Rar!\x1a\x07\x00", "application/x-rar-compressed"),
    (b"\x00asm", "application/wasm"),
    (b"OggS\x00", "application/ogg"),
    (b"\x1aE\xdf\xa3", "video/webm"),
];

const HTML_TAGS: &[&[u8]] = &[
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
];

/// The content type of `body`, judged from its first 512 bytes.
pub(crate) fn detect_content_type(body: &[u8]) -> &'static str {
    let data = &body[..body.len().min(512)];
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))
        .unwrap_or(data.len());
    let trimmed = &data[start..];
    for tag in HTML_TAGS {
        if trimmed.len() > tag.len()
            && trimmed[..tag.len()].eq_ignore_ascii_case(tag)
            && matches!(trimmed[tag.len()], b' ' | b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if trimmed.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    for (sig, kind) in SIGNATURES {
        if data.starts_with(sig) {
            return kind;
        }
    }
    if data.starts_with(b"\xef\xbb\xbf") {
        return "text/plain; charset=utf-8";
    }
    let binary = data.iter().any(|&b| {
        b <= 0x08 || b == 0x0b || (0x0e..=0x1a).contains(&b) || (0x1c..=0x1f).contains(&b)
    });
    if binary {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_text_html_and_binary() {
        assert_eq!(
            detect_content_type(b"{\"a\":1}"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            detect_content_type(b"  <html><body>"),
            "text/html; charset=utf-8"
        );
        assert_eq!(detect_content_type(b"\x89PNG\r\n\x1a\nxx"), "image/png");
        assert_eq!(
            detect_content_type(b"\x00\x01\x02"),
            "application/octet-stream"
        );
        assert_eq!(detect_content_type(b""), "text/plain; charset=utf-8");
    }
}
