//! A small Docker Engine API client: HTTP/1.1 over a unix socket
//! (hyperlocal) or plain TCP (hyper-util's connector), with hyper.
//!
//! # Finding the engine
//!
//! [`Endpoint::discover`] looks, in order, at `DOCKER_HOST`
//! (`unix:///path` or `tcp://host:port`), `/var/run/docker.sock`,
//! `$XDG_RUNTIME_DIR/podman/podman.sock` (rootless Podman) and
//! `/run/podman/podman.sock`, and takes the first socket that exists.
//!
//! # Speaking to it
//!
//! [`Engine::connect`] asks `GET /_ping` and `GET /version`, checks that the
//! daemon speaks API 1.41 or newer, and from then on prefixes every path
//! with `/v1.41`: the request and response models come from
//! `bollard-stubs` 1.41, and pinning the version means a newer daemon
//! answers in exactly the shape those models describe.
//!
//! Every request is one of these shapes:
//!
//! - [`Engine::json`]: a JSON body (or none) in, a JSON document out;
//! - [`Engine::call`]: the same, but the answer's body is ignored;
//! - [`Engine::bytes`]: a raw answer (container logs);
//! - [`Engine::stream`]: a long response read piece by piece (pull
//!   progress);
//! - [`Engine::upgrade`]: the connection is *hijacked* (`Upgrade: tcp`,
//!   answered with `101`) and becomes a raw byte stream: how exec and
//!   attach deliver a process's output.
//!
//! A daemon error (any non-2xx status) becomes [`EngineError::Api`] with
//! the daemon's own `message`.

use std::fmt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The API version nestci speaks (and the oldest daemon it supports).
pub const API_VERSION: (u32, u32) = (1, 41);

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket, e.g. `/var/run/docker.sock`.
    Unix(PathBuf),
    /// `host:port`, from `DOCKER_HOST=tcp://host:port`. Plain HTTP: no TLS.
    Tcp(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(h) => write!(f, "tcp://{h}"),
        }
    }
}

/// The sockets tried when `DOCKER_HOST` is not set, in order.
pub fn default_sockets() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        v.push(Path::new(&dir).join("podman/podman.sock"));
    }
    v.push(PathBuf::from("/run/podman/podman.sock"));
    v
}

impl Endpoint {
    /// Parse a `DOCKER_HOST` value.
    pub fn parse(docker_host: &str) -> Result<Endpoint, EngineError> {
        if let Some(path) = docker_host.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(EngineError::BadHost(docker_host.to_string()));
            }
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else if let Some(host) = docker_host.strip_prefix("tcp://") {
            let host = host.trim_end_matches('/');
            if host.is_empty() || host.contains('/') {
                return Err(EngineError::BadHost(docker_host.to_string()));
            }
            let host = if host.contains(':') {
                host.to_string()
            } else {
                format!("{host}:2375")
            };
            Ok(Endpoint::Tcp(host))
        } else {
            Err(EngineError::BadHost(docker_host.to_string()))
        }
    }

    /// `DOCKER_HOST`, else the first of [`default_sockets`] that exists.
    pub fn discover() -> Result<Endpoint, EngineError> {
        if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
            return Endpoint::parse(&host);
        }
        let tried = default_sockets();
        match tried.iter().find(|p| p.exists()) {
            Some(p) => Ok(Endpoint::Unix(p.clone())),
            None => Err(EngineError::Unreachable {
                endpoint: tried
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                reason: Unreachable::Absent,
            }),
        }
    }

    /// The socket path, for a unix endpoint.
    pub fn socket(&self) -> Option<&Path> {
        match self {
            Endpoint::Unix(p) => Some(p),
            Endpoint::Tcp(_) => None,
        }
    }
}

/// Why the engine could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// No socket file there.
    Absent,
    /// The socket exists but this user may not open it.
    PermissionDenied,
    /// Anything else the connection attempt said (refused, timed out...).
    Other(String),
}

/// What went wrong talking to the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the container engine at {endpoint}: {}",
        describe(reason)
    )]
    Unreachable {
        endpoint: String,
        reason: Unreachable,
    },
    #[error(
        "DOCKER_HOST=`{0}` is not supported: use unix:///path/to/docker.sock or tcp://host:port"
    )]
    BadHost(String),
    #[error(
        "the engine at {endpoint} speaks API {version}; nestci needs {}.{} or newer",
        API_VERSION.0,
        API_VERSION.1
    )]
    TooOld { endpoint: String, version: String },
    /// The daemon answered with an error status.
    #[error("{what}: {message} (HTTP {status})")]
    Api {
        what: String,
        status: StatusCode,
        message: String,
    },
    /// The connection failed mid-way, or the answer made no sense.
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
}

fn describe(reason: &Unreachable) -> String {
    match reason {
        Unreachable::Absent => "no socket there; is the Docker daemon (or `podman system service`) running? Set DOCKER_HOST to point elsewhere".into(),
        Unreachable::PermissionDenied => "permission denied on the socket; run as root or as a member of the socket's group (usually `docker`)".into(),
        Unreachable::Other(e) => format!("{e}; is the daemon running?"),
    }
}

impl EngineError {
    /// The daemon said "no such ..." (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::Api { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    fn transport(what: &str, e: impl fmt::Display) -> EngineError {
        EngineError::Transport {
            what: what.to_string(),
            message: e.to_string(),
        }
    }
}

/// The part of `GET /version` nestci reads.
#[derive(Debug, serde::Deserialize)]
struct VersionAnswer {
    #[serde(rename = "Version", default)]
    version: Option<String>,
    #[serde(rename = "ApiVersion", default)]
    api_version: Option<String>,
    #[serde(rename = "Components", default)]
    components: Vec<Component>,
}

#[derive(Debug, serde::Deserialize)]
struct Component {
    #[serde(rename = "Name", default)]
    name: String,
}

/// Which engine answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Docker,
    Podman,
}

/// What `/version` said, for messages and `doctor`.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub flavor: Flavor,
    /// The engine's own version (`20.10.24`, `4.3.1`).
    pub version: String,
    /// The newest API version it speaks.
    pub api_version: String,
}

impl fmt::Display for EngineInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.flavor {
            Flavor::Docker => "Docker Engine",
            Flavor::Podman => "Podman",
        };
        write!(f, "{name} {} (API {})", self.version, self.api_version)
    }
}

#[derive(Clone)]
enum Transport {
    Unix(Client<hyperlocal::UnixConnector, Full<Bytes>>),
    Tcp(Client<HttpConnector, Full<Bytes>>),
}

/// A connected engine. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Engine {
    endpoint: Endpoint,
    transport: Transport,
    info: EngineInfo,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("endpoint", &self.endpoint)
            .field("info", &self.info)
            .finish()
    }
}

/// A body for [`Engine::json`] and friends.
pub enum Body<'a> {
    None,
    Json(&'a dyn erased::Json),
    Raw(Bytes, &'static str),
}

/// `&dyn Serialize` is not object safe; this is the usual little bridge.
pub mod erased {
    pub trait Json: Send + Sync {
        fn to_vec(&self) -> Result<Vec<u8>, serde_json::Error>;
    }
    impl<T: serde::Serialize + Send + Sync> Json for T {
        fn to_vec(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}

impl<'a> Body<'a> {
    pub fn json<T: Serialize + Send + Sync>(value: &'a T) -> Body<'a> {
        Body::Json(value)
    }
}

impl Engine {
    /// Connect to `endpoint` and check its API version.
    pub async fn connect(endpoint: Endpoint) -> Result<Engine, EngineError> {
        preflight(&endpoint).await?;
        let transport = match &endpoint {
            Endpoint::Unix(_) => Transport::Unix(
                Client::builder(TokioExecutor::new()).build(hyperlocal::UnixConnector),
            ),
            Endpoint::Tcp(_) => {
                let mut http = HttpConnector::new();
                http.set_nodelay(true);
                Transport::Tcp(Client::builder(TokioExecutor::new()).build(http))
            }
        };
        let mut engine = Engine {
            endpoint,
            transport,
            info: EngineInfo {
                flavor: Flavor::Docker,
                version: String::new(),
                api_version: String::new(),
            },
        };
        // Unversioned: these two answer whatever API the client speaks.
        let ping = engine
            .request(Method::GET, "/_ping", Body::None, false, false)
            .await?;
        let is_podman = ping.headers().contains_key("libpod-api-version");
        let ping_api = ping
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        check_status("GET /_ping", ping).await?;
        // Not bollard-stubs' `SystemVersion`: its 1.41 model types
        // `Components[].Details` as a map of `()`, which no daemon's
        // answer deserializes into.
        let version: VersionAnswer = engine
            .json_at(Method::GET, "/version", Body::None, false)
            .await?;
        let api_version = version.api_version.clone().or(ping_api).unwrap_or_default();
        let is_podman = is_podman
            || version
                .components
                .iter()
                .any(|c| c.name.to_ascii_lowercase().contains("podman"));
        if parse_api(&api_version).is_none_or(|v| v < API_VERSION) {
            return Err(EngineError::TooOld {
                endpoint: engine.endpoint.to_string(),
                version: api_version,
            });
        }
        engine.info = EngineInfo {
            flavor: if is_podman {
                Flavor::Podman
            } else {
                Flavor::Docker
            },
            version: version.version.unwrap_or_default(),
            api_version,
        };
        Ok(engine)
    }

    /// `DOCKER_HOST` or the first socket found; see [`Endpoint::discover`].
    pub async fn discover() -> Result<Engine, EngineError> {
        Engine::connect(Endpoint::discover()?).await
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// A request to the versioned API, JSON answer decoded as `T`.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<T, EngineError> {
        self.json_at(method, path, body, true).await
    }

    async fn json_at<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
        versioned: bool,
    ) -> Result<T, EngineError> {
        let what = format!("{method} {path}");
        let response = self.request(method, path, body, versioned, false).await?;
        let bytes = read_body(&what, check_status(&what, response).await?).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            EngineError::transport(&what, format!("unexpected answer from the daemon: {e}"))
        })
    }

    /// A request whose answer's body does not matter (204, 304...).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<(), EngineError> {
        let what = format!("{method} {path}");
        let response = self.request(method, path, body, true, false).await?;
        let response = check_status(&what, response).await?;
        read_body(&what, response).await?;
        Ok(())
    }

    /// A bodiless request whose answer is wanted as raw bytes (container
    /// logs: multiplexed frames, not JSON).
    pub async fn bytes(&self, method: Method, path: &str) -> Result<Bytes, EngineError> {
        let what = format!("{method} {path}");
        let response = self.request(method, path, Body::None, true, false).await?;
        read_body(&what, check_status(&what, response).await?).await
    }

    /// A request whose answer is read as it arrives (use
    /// [`BodyExt::frame`] on the returned body).
    pub async fn stream(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<Incoming, EngineError> {
        let what = format!("{method} {path}");
        let response = self.request(method, path, body, true, false).await?;
        Ok(check_status(&what, response).await?.into_body())
    }

    /// A request that hijacks the connection: the result is the raw
    /// stream the daemon writes (multiplexed output for exec/attach).
    pub async fn upgrade(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<TokioIo<hyper::upgrade::Upgraded>, EngineError> {
        let what = format!("{method} {path}");
        let response = self.request(method, path, body, true, true).await?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            // An error status, or a daemon that answered without upgrading.
            let response = check_status(&what, response).await?;
            return Err(EngineError::transport(
                &what,
                format!(
                    "the daemon answered {} instead of switching protocols",
                    response.status()
                ),
            ));
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(|e| EngineError::transport(&what, e))?;
        Ok(TokioIo::new(upgraded))
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
        versioned: bool,
        upgrade: bool,
    ) -> Result<Response<Incoming>, EngineError> {
        let what = format!("{method} {path}");
        let full_path = if versioned {
            format!("/v{}.{}{path}", API_VERSION.0, API_VERSION.1)
        } else {
            path.to_string()
        };
        let uri: hyper::Uri = match &self.endpoint {
            Endpoint::Unix(socket) => hyperlocal::Uri::new(socket, &full_path).into(),
            Endpoint::Tcp(host) => format!("http://{host}{full_path}")
                .parse()
                .map_err(|e| EngineError::transport(&what, e))?,
        };
        let mut builder = Request::builder().method(method).uri(uri);
        let bytes = match body {
            Body::None => Bytes::new(),
            Body::Json(v) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(v.to_vec().map_err(|e| EngineError::transport(&what, e))?)
            }
            Body::Raw(bytes, content_type) => {
                builder = builder.header("content-type", content_type);
                bytes
            }
        };
        if upgrade {
            builder = builder
                .header("connection", "Upgrade")
                .header("upgrade", "tcp");
        }
        let request = builder
            .body(Full::new(bytes))
            .map_err(|e| EngineError::transport(&what, e))?;
        let result = match &self.transport {
            Transport::Unix(c) => c.request(request).await,
            Transport::Tcp(c) => c.request(request).await,
        };
        result.map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message = format!("{message}: {s}");
                source = s.source();
            }
            EngineError::transport(
                &what,
                format!(
                    "lost the connection to the engine at {} ({message})",
                    self.endpoint
                ),
            )
        })
    }
}

/// Pass a 1xx/2xx/304 answer through; turn anything else into
/// [`EngineError::Api`] with the daemon's message.
async fn check_status(
    what: &str,
    response: Response<Incoming>,
) -> Result<Response<Incoming>, EngineError> {
    let status = response.status();
    if status.is_success() || status.is_informational() || status == StatusCode::NOT_MODIFIED {
        return Ok(response);
    }
    let bytes = read_body(what, response).await.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    let message = match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => b.message,
        Err(_) => String::from_utf8_lossy(&bytes).trim().to_string(),
    };
    Err(EngineError::Api {
        what: what.to_string(),
        status,
        message,
    })
}

async fn read_body(what: &str, response: Response<Incoming>) -> Result<Bytes, EngineError> {
    Ok(response
        .into_body()
        .collect()
        .await
        .map_err(|e| EngineError::transport(what, e))?
        .to_bytes())
}

/// Connect once by hand, so that "absent" and "permission denied" can be
/// told apart before hyper hides them in a generic connect error.
async fn preflight(endpoint: &Endpoint) -> Result<(), EngineError> {
    let unreachable = |reason| EngineError::Unreachable {
        endpoint: endpoint.to_string(),
        reason,
    };
    match endpoint {
        Endpoint::Unix(path) => match tokio::net::UnixStream::connect(path).await {
            Ok(_) => Ok(()),
            Err(e) => Err(unreachable(match e.kind() {
                std::io::ErrorKind::NotFound => Unreachable::Absent,
                std::io::ErrorKind::PermissionDenied => Unreachable::PermissionDenied,
                _ => Unreachable::Other(e.to_string()),
            })),
        },
        Endpoint::Tcp(host) => match tokio::net::TcpStream::connect(host.as_str()).await {
            Ok(_) => Ok(()),
            Err(e) => Err(unreachable(Unreachable::Other(e.to_string()))),
        },
    }
}

/// `1.41` → `(1, 41)`.
pub fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Percent-encode a query parameter value (RFC 3986 unreserved kept).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{"label":["k=v", ...]}`, encoded for a `filters=` query parameter.
pub fn label_filter(labels: &[String]) -> String {
    let filters = serde_json::json!({ "label": labels });
    encode(&filters.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_values() {
        assert_eq!(
            Endpoint::parse("unix:///run/x.sock").ok(),
            Some(Endpoint::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.1").ok(),
            Some(Endpoint::Tcp("10.0.0.1:2375".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://h:1234/").ok(),
            Some(Endpoint::Tcp("h:1234".into()))
        );
        assert!(matches!(
            Endpoint::parse("ssh://me@host"),
            Err(EngineError::BadHost(_))
        ));
        assert!(Endpoint::parse("unix://").is_err());
    }

    #[test]
    fn api_versions_compare() {
        assert!(parse_api("1.41") >= Some(API_VERSION));
        assert!(parse_api("1.43") > Some(API_VERSION));
        assert!(parse_api("1.40") < Some(API_VERSION));
        assert_eq!(parse_api("garbage"), None);
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("a b/c:d"), "a%20b%2Fc%3Ad");
        assert_eq!(
            label_filter(&["nestci.run=1".into()]),
            "%7B%22label%22%3A%5B%22nestci.run%3D1%22%5D%7D"
        );
    }

    #[tokio::test]
    async fn absent_and_forbidden_sockets_are_told_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.sock");
        let err = Engine::connect(Endpoint::Unix(missing.clone()))
            .await
            .expect_err("no socket");
        assert!(matches!(
            err,
            EngineError::Unreachable {
                reason: Unreachable::Absent,
                ..
            }
        ));
        let text = err.to_string();
        assert!(text.contains(&missing.display().to_string()), "{text}");
        assert!(text.contains("no socket there"), "{text}");
    }
}
