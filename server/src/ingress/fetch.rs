//! Fetching an image from a user-supplied URL without becoming an SSRF proxy.
//!
//! Only http(s). Every address the host resolves to must be public (not loopback, private,
//! link-local, multicast, cloud metadata, NAT64 of those, 6to4, ...), unless an operator
//! allow-listed it. One `reqwest` client serves every fetch; its resolver does the check, so
//! the connection can only go to an address that passed it (a second DNS answer cannot swap
//! it), and lookups run on the resolver's own few threads, never on the pool that decodes
//! images. Literal addresses are checked before connecting. Redirects are followed by hand and
//! each hop is checked again. TLS is verified, there are connect and total timeouts, the body
//! is capped while it streams, and at most `--fetch-concurrency` fetches run at once.
//!
//! (Over 500 lines with its tests: the code is the first 419 lines; the tests stay beside it.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use url::Url;

use crate::error::ApiError;
use crate::ingress::limits;

#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
    /// Networks that may be fetched even though they are not public (`--fetch-allow`).
    /// Empty by default; tests that serve images on loopback opt in here.
    pub allow: Vec<IpNet>,
    /// Most fetches in flight at once (`--fetch-concurrency`); more get 429 at once.
    pub concurrency: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            total_timeout: Duration::from_secs(10),
            max_bytes: 16 * 1024 * 1024,
            max_redirects: 5,
            allow: Vec::new(),
            concurrency: 16,
        }
    }
}

/// Why an address is not public, or `None` if it is.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                // NAT64: judge the IPv4 address inside.
                forbidden_v4(Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ))
            } else if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
                // Local-use NAT64 (RFC 8215): translated by a local gateway, inside the network.
                Some("local-use NAT64")
            } else if s[0] == 0x2002 {
                // 6to4 embeds an IPv4 address that a relay reaches; never a public image host.
                Some("6to4")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("documentation")
            } else if s[0..6] == [0, 0, 0, 0, 0, 0] {
                Some("IPv4-compatible")
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if o[0] == 169 && o[1] == 254 {
        // Includes 169.254.169.254, the metadata service of every major cloud.
        Some("link-local / cloud metadata")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        Some("shared address space (CGNAT)")
    } else if o[0] == 0 {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if o[0] >= 240 {
        Some("reserved / broadcast")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Some("IETF protocol assignments")
    } else if (o[0] == 192 && o[1] == 0 && o[2] == 2)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
    {
        Some("documentation")
    } else if o[0] == 198 && (o[1] == 18 || o[1] == 19) {
        Some("benchmarking")
    } else {
        None
    }
}

impl FetchPolicy {
    fn check_addr(&self, host: &str, ip: IpAddr) -> Result<(), ApiError> {
        if self.allow.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match forbidden_reason(ip) {
            Some(why) => Err(ApiError::UrlRefused(format!(
                "refusing to fetch {host}: it resolves to {ip}, a {why} address"
            ))),
            None => Ok(()),
        }
    }

    fn too_large(&self) -> ApiError {
        ApiError::PayloadTooLarge(format!(
            "the image at the URL is larger than {} bytes (--fetch-max-bytes)",
            self.max_bytes
        ))
    }
}

/// The refusal a resolver hands back through reqwest, found again in the error's chain.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// `getaddrinfo` on a few threads of its own. A lookup is blocking; here it can only ever hold
/// these threads, not the runtime's or the decoding pool's, and a full queue fails at once.
#[derive(Clone)]
struct DnsPool {
    jobs: mpsc::SyncSender<(
        String,
        tokio::sync::oneshot::Sender<std::io::Result<Vec<IpAddr>>>,
    )>,
}

impl DnsPool {
    fn new(threads: usize) -> Self {
        type Job = (
            String,
            tokio::sync::oneshot::Sender<std::io::Result<Vec<IpAddr>>>,
        );
        let (tx, rx) = mpsc::sync_channel::<Job>(threads * 8);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("dns-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().map(|r| r.recv());
                    let Ok(Ok((host, reply))) = job else { return };
                    let res = (host.as_str(), 0u16)
                        .to_socket_addrs()
                        .map(|a| a.map(|s| s.ip()).collect());
                    let _ = reply.send(res);
                })
                .expect("spawn a DNS thread");
        }
        Self { jobs: tx }
    }

    async fn lookup(&self, host: String) -> std::io::Result<Vec<IpAddr>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs.try_send((host, tx)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "too many DNS lookups at once",
            )
        })?;
        rx.await
            .map_err(|_| std::io::Error::other("the DNS thread stopped"))?
    }
}

/// The client's resolver: looks the name up on the DNS pool and refuses the whole answer if
/// any address is not public (an attacker's DNS may mix a public and a private one).
struct CheckedResolver {
    policy: Arc<FetchPolicy>,
    dns: DnsPool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (policy, dns) = (self.policy.clone(), self.dns.clone());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = dns.lookup(host.clone()).await?;
            if ips.is_empty() {
                return Err(Box::new(Refused(format!("{host} has no addresses"))) as _);
            }
            for ip in &ips {
                if let Err(e) = policy.check_addr(&host, *ip) {
                    return Err(Box::new(Refused(e.to_string())) as _);
                }
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Fetches images from user-supplied URLs under a [`FetchPolicy`]; one per process.
#[derive(Clone)]
pub struct Fetcher {
    policy: Arc<FetchPolicy>,
    client: reqwest::Client,
    slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        let policy = Arc::new(policy);
        let dns = DnsPool::new(policy.concurrency.clamp(1, 8));
        // No proxies (they would resolve for us, past the check), no automatic redirects
        // (each hop is checked here).
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver {
                policy: policy.clone(),
                dns,
            }))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(policy.connect_timeout)
            .user_agent(concat!("candlelit/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's settings are valid");
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(policy.concurrency.max(1))),
            policy,
            client,
        }
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Fetches `raw_url` and returns its body, which must be an accepted image format.
    pub async fn fetch_image(&self, raw_url: &str) -> Result<Vec<u8>, ApiError> {
        let p = &self.policy;
        let started = Instant::now();
        let deadline = started + p.total_timeout;
        let mut url = Url::parse(raw_url.trim())
            .map_err(|e| ApiError::BadRequest(format!("image_url is not a valid URL: {e}")))?;
        let _slot = self.slots.try_acquire().map_err(|_| {
            ApiError::Overloaded(format!(
                "the server is fetching {} URLs already (--fetch-concurrency); retry shortly",
                p.concurrency
            ))
        })?;
        for hop in 0..=p.max_redirects {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ApiError::UrlRefused(format!(
                    "only http and https URLs are fetched, not '{}'",
                    url.scheme()
                )));
            }
            let host = url
                .host_str()
                .ok_or_else(|| ApiError::UrlRefused("the URL has no host".into()))?
                .to_owned();
            // `localhost` and its subdomains are loopback by definition (RFC 6761), whatever a
            // resolver says, and a lookup of `localhost.` may fail instead of answering.
            let bare = host.trim_end_matches('.').to_ascii_lowercase();
            if bare == "localhost" || bare.ends_with(".localhost") {
                return Err(ApiError::UrlRefused(format!(
                    "refusing to fetch {host}: it is a loopback name"
                )));
            }
            // A literal address never reaches the resolver: check it here.
            match url.host() {
                Some(url::Host::Ipv4(ip)) => p.check_addr(&host, IpAddr::V4(ip))?,
                Some(url::Host::Ipv6(ip)) => p.check_addr(&host, IpAddr::V6(ip))?,
                _ => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ApiError::UrlFailed(format!(
                    "fetching the image took longer than {:?}",
                    p.total_timeout
                )));
            }
            let mut resp = self
                .client
                .get(url.clone())
                .timeout(left)
                .send()
                .await
                .map_err(|e| send_error(&host, &e))?;
            let status = resp.status();
            if status.is_redirection() {
                let loc = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        ApiError::UrlFailed(format!("{host} redirected without a Location"))
                    })?;
                url = url
                    .join(loc)
                    .map_err(|e| ApiError::UrlFailed(format!("bad redirect target: {e}")))?;
                tracing::debug!(hop, next = %url, "following redirect");
                continue;
            }
            if !status.is_success() {
                return Err(ApiError::UrlFailed(format!(
                    "{host} answered HTTP {}",
                    status.as_u16()
                )));
            }
            if resp
                .content_length()
                .is_some_and(|n| n > p.max_bytes as u64)
            {
                return Err(p.too_large());
            }
            let mut body = Vec::new();
            loop {
                let chunk = resp.chunk().await.map_err(|e| {
                    if e.is_timeout() {
                        ApiError::UrlFailed(format!(
                            "fetching the image took longer than {:?}",
                            p.total_timeout
                        ))
                    } else {
                        ApiError::UrlFailed(format!(
                            "reading the image from {host} failed: {}",
                            root_cause(&e)
                        ))
                    }
                })?;
                let Some(chunk) = chunk else { break };
                if body.len() + chunk.len() > p.max_bytes {
                    return Err(p.too_large());
                }
                body.extend_from_slice(&chunk);
            }
            limits::sniff(&body).map_err(|_| {
                ApiError::UnsupportedMediaType(format!("{url} did not return an image"))
            })?;
            return Ok(body);
        }
        Err(ApiError::UrlFailed(format!(
            "more than {} redirects",
            p.max_redirects
        )))
    }
}

/// A failed send as the client should see it: the resolver's refusal as such (400), else what
/// failed, without echoing what a private port might have said.
fn send_error(host: &str, e: &reqwest::Error) -> ApiError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refused>() {
            return ApiError::UrlRefused(r.0.clone());
        }
        cur = err.source();
    }
    if e.is_timeout() {
        ApiError::UrlFailed(format!("fetching {host} timed out"))
    } else if e.is_connect() {
        ApiError::UrlFailed(format!("could not connect to {host}"))
    } else {
        ApiError::UrlFailed(format!(
            "could not fetch the image from {host}: {}",
            root_cause(e)
        ))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_forbidden() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "192.0.2.1",
        ] {
            assert!(forbidden_reason(ip(a)).is_some(), "{a} must be forbidden");
        }
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "172.32.0.1",
        ] {
            assert!(forbidden_reason(ip(a)).is_none(), "{a} is public");
        }
    }

    #[test]
    fn allow_list_opens_only_what_it_names() {
        let p = FetchPolicy {
            allow: vec!["127.0.0.1/32".parse().unwrap()],
            ..FetchPolicy::default()
        };
        assert!(p.check_addr("h", ip("127.0.0.1")).is_ok());
        assert!(p.check_addr("h", ip("127.0.0.2")).is_err());
        assert!(p.check_addr("h", ip("10.0.0.1")).is_err());
    }

    #[test]
    fn nat64_local_use_and_6to4_are_forbidden() {
        for a in [
            "64:ff9b:1::a00:1",
            "64:ff9b:1::808:808",
            "2002:7f00:1::",
            "2002:808:808::1",
        ] {
            assert!(forbidden_reason(ip(a)).is_some(), "{a} must be forbidden");
        }
        assert!(
            forbidden_reason(ip("64:ff9b::808:808")).is_none(),
            "well-known NAT64 of a public address"
        );
    }

    #[tokio::test]
    async fn schemes_other_than_http_are_refused() {
        let p = Fetcher::new(FetchPolicy::default());
        for u in [
            "file:///etc/passwd",
            "ftp://example.com/a.png",
            "gopher://x/",
        ] {
            let e = p.fetch_image(u).await.unwrap_err();
            assert_eq!(e.kind(), "url_refused", "{u}: {e}");
        }
        assert_eq!(
            p.fetch_image("not a url").await.unwrap_err().kind(),
            "bad_request"
        );
    }

    #[tokio::test]
    async fn loopback_and_metadata_hosts_are_refused_before_connecting() {
        let p = Fetcher::new(FetchPolicy::default());
        for u in [
            "http://127.0.0.1:9/x.png",
            "http://localhost:9/x.png",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:9/",
        ] {
            let e = p.fetch_image(u).await.unwrap_err();
            assert_eq!(e.kind(), "url_refused", "{u}: {e}");
        }
    }
}
