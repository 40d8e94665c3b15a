//! The HTTP/1.1 of the metrics endpoint: what a request asks for, and the
//! bytes of the answer.
//!
//! Owns: parsing a request head (with `httparse`, a small, widely used
//! parser that allocates nothing), the routing rule (`GET /metrics`, nothing
//! else) and the response bytes. Does not own: sockets or limits on them
//! ([`super::server`]).
//!
//! Every response closes the connection: a scraper makes one request per
//! interval, and not keeping connections keeps the server's state to one
//! request per client.

/// Headers a request may have; more is a bad request.
const MAX_HEADERS: usize = 32;

/// What a request head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// The head is not complete yet.
    Partial,
    /// `GET /metrics` (a query string is ignored); `head` for HEAD.
    Metrics { head: bool },
    /// A path other than `/metrics`.
    NotFound,
    /// A method other than GET or HEAD.
    MethodNotAllowed,
    /// Not HTTP/1.x, or malformed.
    Bad,
}

/// Parse what arrived so far.
pub fn parse(buf: &[u8]) -> Request {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Request::Partial,
        Err(_) => Request::Bad,
        Ok(httparse::Status::Complete(_)) => {
            let path = req.path.unwrap_or_default();
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            let head = match req.method {
                Some("GET") => false,
                Some("HEAD") => true,
                _ => return Request::MethodNotAllowed,
            };
            if path == "/metrics" {
                Request::Metrics { head }
            } else {
                Request::NotFound
            }
        }
    }
}

/// A whole response: status line, headers, and the body unless `head`.
pub fn response(status: &str, content_type: &str, body: &[u8], head: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    )
    .into_bytes();
    if status.starts_with("405") {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(body);
    }
    out
}

/// The answer to a request that is not for the metrics.
pub fn error_response(request: Request) -> Vec<u8> {
    let status = match request {
        Request::NotFound => "404 Not Found",
        Request::MethodNotAllowed => "405 Method Not Allowed",
        Request::Partial => "431 Request Header Fields Too Large",
        Request::Bad | Request::Metrics { .. } => "400 Bad Request",
    };
    let body = format!("{status}\n");
    response(status, "text/plain; charset=utf-8", body.as_bytes(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_and_head_of_metrics_are_served() {
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics { head: false }
        );
        assert_eq!(
            parse(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics { head: true }
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(
            parse(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::MethodNotAllowed
        );
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost"), Request::Partial);
        assert_eq!(parse(b"\x16\x03\x01\x02\x00garbage\r\n\r\n"), Request::Bad);
        assert_eq!(parse(b"GET /metrics SPDY/9\r\n\r\n"), Request::Bad);
        let many: String = (0..40).map(|i| format!("h{i}: v\r\n")).collect();
        let req = format!("GET /metrics HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(req.as_bytes()), Request::Bad);
    }

    #[test]
    fn responses_close_and_say_their_length() {
        let r = String::from_utf8(response("200 OK", "text/plain", b"abc", false)).expect("text");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 3\r\n") && r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\nabc"));
        let r = String::from_utf8(error_response(Request::MethodNotAllowed)).expect("text");
        assert!(r.starts_with("HTTP/1.1 405") && r.contains("Allow: GET, HEAD\r\n"));
    }
}
