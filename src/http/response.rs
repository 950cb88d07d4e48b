//! The responses: status line, headers and the page or a short error body.

use super::{Request, PAGE};

/// Appends the response for `request` to `out`; returns whether to close afterwards.
pub fn respond(request: &Request, out: &mut Vec<u8>) -> bool {
    let (status, body, head_only, close) = match *request {
        Request::Page { head_only, close } => ("200 OK", PAGE, head_only, close),
        Request::MethodNotAllowed { close } => (
            "405 Method Not Allowed",
            "method not allowed\n",
            false,
            close,
        ),
        Request::Bad => ("400 Bad Request", "bad request\n", false, true),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "request head too large\n",
            false,
            true,
        ),
        Request::ContentTooLarge => (
            "413 Content Too Large",
            "request body too large\n",
            false,
            true,
        ),
        Request::NotImplemented => (
            "501 Not Implemented",
            "transfer coding not implemented\n",
            false,
            true,
        ),
        Request::Timeout => ("408 Request Timeout", "request timeout\n", false, true),
    };
    let connection = if close { "close" } else { "keep-alive" };
    let allow = if matches!(request, Request::MethodNotAllowed { .. }) {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\nServer: fstack-rs\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: {connection}\r\n{allow}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    close
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_have_exact_lengths() {
        let mut out = Vec::new();
        assert!(!respond(
            &Request::Page {
                head_only: false,
                close: false
            },
            &mut out
        ));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains(&format!("Content-Length: {}\r\n", PAGE.len())));
        assert!(text.ends_with(PAGE));
        let mut out = Vec::new();
        assert!(respond(&Request::Bad, &mut out));
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Connection: close"));
        for (r, status) in [
            (Request::ContentTooLarge, "HTTP/1.1 413 Content Too Large"),
            (Request::NotImplemented, "HTTP/1.1 501 Not Implemented"),
            (Request::Timeout, "HTTP/1.1 408 Request Timeout"),
        ] {
            let mut out = Vec::new();
            assert!(respond(&r, &mut out));
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with(&format!("{status}\r\n")), "{text}");
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("Content-Length: {}", body.len())));
        }
    }
}
