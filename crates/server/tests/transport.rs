//! The transports the server offers besides plaintext gRPC, each over a real socket to the real
//! server on 127.0.0.1:0: TLS with a CA and certificate generated at test time (a client that
//! trusts the CA does a real authenticated RPC; a plaintext client and a client that does not
//! trust the CA both fail), gRPC server reflection (v1 and v1alpha) listing and describing the
//! auscult.v1 services (and both UNIMPLEMENTED when switched off), gRPC health, and gRPC-Web over a hand-written HTTP/1.1 exchange on a raw TCP socket
//! (framed request, decoded response frame and trailers, authenticated and not), and the warning
//! the `auscult-server` binary prints when it serves plaintext beyond loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use auscult_proto::v1 as pb;
use auscult_server::config::TlsConfig;
use auscult_testkit::*;
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
use tonic_reflection::pb::v1alpha as reflection_alpha;

const AUSCULT_SERVICES: [&str; 3] = [
    "auscult.v1.IngestService",
    "auscult.v1.ReviewService",
    "auscult.v1.AdminService",
];

/// A test CA and a `localhost` server certificate it signed, as PEM: (ca, cert, key).
fn test_pki() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "auscult test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

async fn health_status(ch: Channel, service: &str) -> Result<ServingStatus, tonic::Status> {
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| r.into_inner().status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_generated_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert_pem, key_pem) = test_pki();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    let mut config = test_config(dir.path(), None);
    config.tls = Some(TlsConfig { cert, key });
    let server = auscult_server::start(config)
        .await
        .expect("TLS server starts");
    let admin_token = server.bootstrap_token.clone().unwrap();
    let port = server.addr.port();

    // A client trusting the CA: a real, authenticated RPC over TLS.
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca_pem))
        .domain_name("localhost");
    let ch = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("TLS connect with the test CA");
    let me = admin(&ch)
        .who_am_i(authed(&admin_token, pb::WhoAmIRequest::default()))
        .await
        .expect("WhoAmI over TLS")
        .into_inner();
    assert_eq!(me.role(), pb::Role::Admin);
    let t = make_tenant(&ch, &admin_token, "tls-clinic").await;
    assert!(!t.id.is_empty());
    assert_eq!(
        health_status(ch.clone(), "").await.unwrap(),
        ServingStatus::Serving
    );

    // A plaintext client gets nothing from the TLS port.
    let plain = async {
        let ch = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        health_status(ch, "").await.map_err(|e| e.to_string())
    };
    let plain = tokio::time::timeout(Duration::from_secs(20), plain)
        .await
        .expect("the plaintext attempt ends");
    assert!(plain.is_err(), "plaintext client succeeded: {plain:?}");

    // A TLS client trusting another CA is refused during the handshake.
    let (other_ca, _, _) = test_pki();
    let wrong = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&other_ca))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await;
    let wrong = match wrong {
        Ok(ch) => health_status(ch, "").await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert!(wrong.is_err(), "a client not trusting the CA succeeded");

    server.shutdown().await.unwrap();
}

async fn reflect(ch: &Channel, request: MessageRequest) -> MessageResponse {
    try_reflect(ch, request)
        .await
        .expect("a reflection response")
}

async fn try_reflect(
    ch: &Channel,
    request: MessageRequest,
) -> Result<MessageResponse, tonic::Status> {
    let mut client = ServerReflectionClient::new(ch.clone());
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        }]))
        .await
        .expect("reflection stream")
        .into_inner();
    let response: ServerReflectionResponse = responses.message().await?.expect("one message");
    Ok(response.message_response.expect("a message response"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_and_health() {
    let ts = start(Db::Sqlite).await.unwrap();
    let ch = &ts.channel;

    let MessageResponse::ListServicesResponse(list) =
        reflect(ch, MessageRequest::ListServices(String::new())).await
    else {
        panic!("ListServices answered with something else");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in AUSCULT_SERVICES.iter().chain(&["grpc.health.v1.Health"]) {
        assert!(names.contains(service), "{service} not listed: {names:?}");
    }

    let MessageResponse::FileDescriptorResponse(files) = reflect(
        ch,
        MessageRequest::FileContainingSymbol("auscult.v1.ReviewService".into()),
    )
    .await
    else {
        panic!("FileContainingSymbol answered with something else");
    };
    let descriptors: Vec<prost_types::FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|b| prost_types::FileDescriptorProto::decode(b.as_slice()).unwrap())
        .collect();
    let review = descriptors
        .iter()
        .filter(|f| f.package() == "auscult.v1")
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "ReviewService")
        .expect("the ReviewService descriptor");
    let methods: Vec<&str> = review.method.iter().map(|m| m.name()).collect();
    for m in [
        "ListCases",
        "GetCase",
        "GetAudio",
        "SubmitReview",
        "ListAuditEvents",
    ] {
        assert!(methods.contains(&m), "{m} missing from {methods:?}");
    }

    // An unknown symbol is NOT_FOUND (tonic answers with a stream status, the protocol also
    // allows an error response message).
    let unknown = try_reflect(
        ch,
        MessageRequest::FileContainingSymbol("auscult.v1.NoSuchService".into()),
    )
    .await;
    match unknown {
        Err(status) => assert_eq!(status.code(), tonic::Code::NotFound),
        Ok(MessageResponse::ErrorResponse(err)) => {
            assert_eq!(err.error_code, tonic::Code::NotFound as i32);
        }
        Ok(other) => panic!("an unknown symbol was answered with {other:?}"),
    }

    // Health: the server as a whole and each service serve; an unknown service is NOT_FOUND.
    for service in std::iter::once("").chain(AUSCULT_SERVICES) {
        assert_eq!(
            health_status(ch.clone(), service).await.unwrap(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
    let unknown = health_status(ch.clone(), "auscult.v1.Nope")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    ts.server.shutdown().await.unwrap();
}

/// The services a v1alpha reflection client (as older grpcurl, Postman and Evans are) lists.
async fn list_services_v1alpha(ch: &Channel) -> Result<Vec<String>, tonic::Status> {
    use reflection_alpha::server_reflection_client::ServerReflectionClient;
    use reflection_alpha::server_reflection_request::MessageRequest;
    use reflection_alpha::server_reflection_response::MessageResponse;
    let mut responses = ServerReflectionClient::new(ch.clone())
        .server_reflection_info(tokio_stream::iter([
            reflection_alpha::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            },
        ]))
        .await?
        .into_inner();
    let response = responses.message().await?.expect("one message");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        other => panic!("v1alpha ListServices answered with {other:?}"),
    }
}

/// The services a v1 reflection client lists.
async fn list_services_v1(ch: &Channel) -> Result<Vec<String>, tonic::Status> {
    let mut client = ServerReflectionClient::new(ch.clone());
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await?
        .into_inner();
    let response = responses.message().await?.expect("one message");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            Ok(list.service.into_iter().map(|s| s.name).collect())
        }
        other => panic!("v1 ListServices answered with {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1alpha_and_v1_served_and_switched_off() {
    let ts = start(Db::Sqlite).await.unwrap();
    let ch = &ts.channel;
    for (version, listed) in [
        ("v1alpha", list_services_v1alpha(ch).await),
        ("v1", list_services_v1(ch).await),
    ] {
        let names = listed.unwrap_or_else(|s| panic!("{version} reflection failed: {s:?}"));
        for service in AUSCULT_SERVICES.iter().chain(&[
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]) {
            assert!(
                names.iter().any(|n| n == service),
                "{version}: {service} not listed: {names:?}"
            );
        }
    }
    // A v1alpha client can describe a service too (grpcurl's `describe`).
    {
        use reflection_alpha::server_reflection_client::ServerReflectionClient;
        use reflection_alpha::server_reflection_request::MessageRequest;
        use reflection_alpha::server_reflection_response::MessageResponse;
        let mut responses = ServerReflectionClient::new(ch.clone())
            .server_reflection_info(tokio_stream::iter([
                reflection_alpha::ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(MessageRequest::FileContainingSymbol(
                        "auscult.v1.IngestService".into(),
                    )),
                },
            ]))
            .await
            .unwrap()
            .into_inner();
        let Some(MessageResponse::FileDescriptorResponse(files)) =
            responses.message().await.unwrap().unwrap().message_response
        else {
            panic!("v1alpha FileContainingSymbol answered with something else");
        };
        let described = files
            .file_descriptor_proto
            .iter()
            .map(|b| prost_types::FileDescriptorProto::decode(b.as_slice()).unwrap())
            .flat_map(|f| f.service)
            .any(|s| s.name() == "IngestService");
        assert!(described, "IngestService not described over v1alpha");
    }
    ts.server.shutdown().await.unwrap();

    // Switched off: both versions are UNIMPLEMENTED, the services themselves still answer.
    let ts = start_with(Db::Sqlite, |c| c.reflection = false)
        .await
        .unwrap();
    let ch = &ts.channel;
    for (version, listed) in [
        ("v1alpha", list_services_v1alpha(ch).await),
        ("v1", list_services_v1(ch).await),
    ] {
        match listed {
            Err(status) => assert_eq!(
                status.code(),
                tonic::Code::Unimplemented,
                "{version}: {status:?}"
            ),
            Ok(names) => panic!("{version} reflection still served with reflection off: {names:?}"),
        }
    }
    assert_eq!(
        health_status(ch.clone(), "").await.unwrap(),
        ServingStatus::Serving
    );
    ts.server.shutdown().await.unwrap();
}

/// Runs the real `auscult-server` binary with `args` until it is ready, stops it, and returns
/// what it wrote to stderr.
fn server_stderr(dir: &std::path::Path, args: &[&str]) -> String {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_auscult-server"))
        .args(args)
        // Several of these run at once: no web console on its fixed default port.
        .arg("--no-web")
        .arg("--data-dir")
        .arg(dir)
        .args(["--workers", "1"])
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn auscult-server");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = false;
    for line in stdout.lines() {
        if line.unwrap() == "ready" {
            ready = true;
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(ready, "auscult-server never got ready; stderr: {stderr}");
    stderr
}

#[test]
fn plaintext_beyond_loopback_is_warned_about_at_start() {
    const WARNING: &str = "beyond loopback, without TLS";
    let dir = tempfile::tempdir().unwrap();
    let exposed = server_stderr(&dir.path().join("a"), &["--listen", "0.0.0.0:0"]);
    assert!(
        exposed.contains(WARNING) && exposed.contains("WARN"),
        "no warning for plaintext on 0.0.0.0: {exposed}"
    );
    let local = server_stderr(&dir.path().join("b"), &["--listen", "127.0.0.1:0"]);
    assert!(!local.contains(WARNING), "warned on loopback: {local}");
    let (_, cert_pem, key_pem) = test_pki();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();
    let tls = server_stderr(
        &dir.path().join("c"),
        &[
            "--listen",
            "0.0.0.0:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(!tls.contains(WARNING), "warned although TLS is on: {tls}");
}

/// A parsed HTTP/1.1 response: status code, lower-cased headers, de-chunked body.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("a hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        assert_eq!(&raw[size..size + 2], b"\r\n", "chunk terminator");
        raw = &raw[size + 2..];
    }
}

/// One gRPC-Web call as a browser would make it: HTTP/1.1 POST on a fresh TCP connection.
async fn grpc_web_post(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
    message: &impl prost::Message,
) -> HttpResponse {
    let payload = message.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&payload);
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/grpc-web+proto\r\n\
         accept: application/grpc-web+proto\r\nx-grpc-web: 1\r\n{auth}\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(
        status_line.starts_with("HTTP/1.1 "),
        "an HTTP/1.1 answer: {status_line}"
    );
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// The data frames and the trailers (lower-cased names) of a gRPC-Web response body.
fn grpc_web_frames(body: &[u8]) -> (Vec<Vec<u8>>, Vec<(String, String)>) {
    let (mut data, mut trailers) = (Vec::new(), Vec::new());
    let mut rest = body;
    while !rest.is_empty() {
        assert!(rest.len() >= 5, "a truncated gRPC-Web frame");
        let flag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let frame = &rest[5..5 + len];
        if flag & 0x80 != 0 {
            let text = std::str::from_utf8(frame).unwrap();
            trailers.extend(
                text.split("\r\n")
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())),
            );
        } else {
            assert_eq!(flag, 0, "uncompressed data frame");
            data.push(frame.to_vec());
        }
        rest = &rest[5 + len..];
    }
    (data, trailers)
}

/// grpc-status of a gRPC-Web response, from the trailer frame or (trailers-only) the headers.
fn grpc_status(response: &HttpResponse, trailers: &[(String, String)]) -> i32 {
    trailers
        .iter()
        .find(|(n, _)| n == "grpc-status")
        .map(|(_, v)| v.as_str())
        .or_else(|| response.header("grpc-status"))
        .expect("a grpc-status")
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_over_http1() {
    let ts = start(Db::Sqlite).await.unwrap();
    let addr = ts.server.addr;

    // Health Check.
    let response = grpc_web_post(
        addr,
        "/grpc.health.v1.Health/Check",
        None,
        &HealthCheckRequest {
            service: "auscult.v1.ReviewService".into(),
        },
    )
    .await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/grpc-web")),
        "{:?}",
        response.headers
    );
    let (data, trailers) = grpc_web_frames(&response.body);
    assert_eq!(grpc_status(&response, &trailers), 0);
    assert_eq!(data.len(), 1, "one response message");
    let health = HealthCheckResponse::decode(data[0].as_slice()).unwrap();
    assert_eq!(health.status(), ServingStatus::Serving);
    assert!(!trailers.is_empty(), "trailers come as a trailer frame");

    // An authenticated admin call: WhoAmI with the bootstrap token.
    let response = grpc_web_post(
        addr,
        "/auscult.v1.AdminService/WhoAmI",
        Some(&ts.admin_token),
        &pb::WhoAmIRequest::default(),
    )
    .await;
    assert_eq!(response.status, 200);
    let (data, trailers) = grpc_web_frames(&response.body);
    assert_eq!(grpc_status(&response, &trailers), 0);
    let me = pb::Principal::decode(data.first().expect("a Principal").as_slice()).unwrap();
    assert_eq!(me.role(), pb::Role::Admin);

    // The same call with no token or a wrong one: UNAUTHENTICATED, no message.
    for token in [None, Some("not-a-token")] {
        let response = grpc_web_post(
            addr,
            "/auscult.v1.AdminService/WhoAmI",
            token,
            &pb::WhoAmIRequest::default(),
        )
        .await;
        let (data, trailers) = grpc_web_frames(&response.body);
        assert!(data.is_empty());
        assert_eq!(
            grpc_status(&response, &trailers),
            tonic::Code::Unauthenticated as i32,
            "{token:?}"
        );
    }

    // A gRPC-Web ListCases by a clinician of a fresh tenant: an empty worklist, status OK.
    let t = make_tenant(&ts.channel, &ts.admin_token, "web-clinic").await;
    let response = grpc_web_post(
        addr,
        "/auscult.v1.ReviewService/ListCases",
        Some(&t.clinician_token),
        &pb::ListCasesRequest::default(),
    )
    .await;
    let (data, trailers) = grpc_web_frames(&response.body);
    assert_eq!(grpc_status(&response, &trailers), 0);
    let list = pb::ListCasesResponse::decode(data.first().expect("a response").as_slice()).unwrap();
    assert!(list.cases.is_empty());
    assert!(list.next_page_token.is_empty());

    ts.server.shutdown().await.unwrap();
}
