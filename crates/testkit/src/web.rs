//! The web console over plain HTTP, for tests that read its pages and streams without a browser.

/// The value of the `name` cookie a response sets.
///
/// # Panics
/// When the response sets no such cookie (a test failure).
pub fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

/// Signs `username` in to the console at `base` (`http://host:port`) with `password`, as the
/// sign-in form does (its CSRF cookie and field): the `Cookie` header value of the session.
///
/// # Panics
/// When the console does not answer or refuses the sign-in (a test failure).
pub async fn sign_in(base: &str, username: &str, password: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let page = http
        .get(format!("{base}/sign-in"))
        .send()
        .await
        .expect("the sign-in page");
    let csrf = set_cookie(&page, "auscult_signin");
    let signed = http
        .post(format!("{base}/sign-in"))
        .header(reqwest::header::COOKIE, format!("auscult_signin={csrf}"))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .expect("the sign-in form");
    assert_eq!(
        signed.status(),
        reqwest::StatusCode::SEE_OTHER,
        "{username} signed in"
    );
    format!("auscult_session={}", set_cookie(&signed, "auscult_session"))
}
