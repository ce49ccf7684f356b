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

/// An HTTP client that does not follow redirects (a form's answer is the redirect itself).
fn form_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// Signs `username` in to the console at `base` (`http://host:port`) with `password`, as the
/// sign-in form does (its CSRF cookie and field): the `Cookie` header value of the session.
///
/// # Panics
/// When the console does not answer or refuses the sign-in (a test failure).
pub async fn sign_in(base: &str, username: &str, password: &str) -> String {
    let http = form_client();
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

/// Asks the device of live session `id` to move to `site` (`aortic`, …) as the console's "next
/// site" button does: the session page's CSRF token, then the form post, as the clinician whose
/// session cookie is `cookie`. The response (a redirect when accepted).
///
/// # Panics
/// When the console does not answer or the page carries no CSRF token (a test failure).
pub async fn instruct_next_site(
    base: &str,
    cookie: &str,
    id: &str,
    site: &str,
) -> reqwest::Response {
    let http = form_client();
    let page = http
        .get(format!("{base}/live/{id}"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("the live session's page")
        .text()
        .await
        .expect("the live session's page");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token on the live session's page");
    http.post(format!("{base}/live/{id}/instruction"))
        .header(reqwest::header::COOKIE, cookie)
        .form(&[("csrf", csrf), ("kind", "next_site"), ("site", site)])
        .send()
        .await
        .expect("the instruction form")
}

/// `GET {base}{path}` with the session cookie.
///
/// # Panics
/// When the console does not answer (a test failure).
pub async fn web_get(base: &str, session: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header(reqwest::header::COOKIE, session)
        .send()
        .await
        .expect("the console answers")
}

/// The live session ids `GET /live` on `base` lists.
///
/// # Panics
/// When the page is not served (a test failure).
pub async fn live_ids(base: &str, session: &str) -> Vec<String> {
    let page = web_get(base, session, "/live").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let html = page.text().await.expect("the live sessions page");
    html.split("data-session=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Waits (at most `within`) until `GET /live` on `base` lists a session other than `not`.
///
/// # Panics
/// When none is listed in time (a test failure).
pub async fn listed_session(
    base: &str,
    session: &str,
    not: Option<&str>,
    within: std::time::Duration,
) -> String {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(id) = live_ids(base, session)
            .await
            .into_iter()
            .find(|id| Some(id.as_str()) != not)
        {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no live session listed on {base}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
