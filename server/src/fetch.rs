//! Fetching an image from a user-supplied URL without becoming an SSRF proxy.
//!
//! Only http(s). Every address the host resolves to must be public (not loopback, private,
//! link-local, multicast, cloud metadata, ...), unless an operator allow-listed it. The
//! connection is pinned to the address that was checked, so a second DNS answer cannot swap
//! it. Redirects are followed by hand and each hop is checked again. TLS is verified, there are
//! connect and total timeouts, and the body is capped while it streams.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use url::Url;

use crate::error::ApiError;
use crate::limits;

#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
    /// Networks that may be fetched even though they are not public (`--fetch-allow`).
    /// Empty by default; tests that serve images on loopback opt in here.
    pub allow: Vec<IpNet>,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            total_timeout: Duration::from_secs(10),
            max_bytes: 16 * 1024 * 1024,
            max_redirects: 5,
            allow: Vec::new(),
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

    /// Resolves the URL's host and checks every address; returns the one to connect to.
    async fn resolve_checked(&self, url: &Url, deadline: Instant) -> Result<SocketAddr, ApiError> {
        let host = url
            .host_str()
            .ok_or_else(|| ApiError::UrlRefused("the URL has no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            _ => {
                let left = deadline.saturating_duration_since(Instant::now());
                let res = tokio::time::timeout(
                    left.min(self.connect_timeout),
                    tokio::net::lookup_host((host, port)),
                )
                .await
                .map_err(|_| ApiError::UrlFailed(format!("resolving {host} timed out")))?
                .map_err(|e| ApiError::UrlFailed(format!("could not resolve {host}: {e}")))?;
                res.collect()
            }
        };
        if addrs.is_empty() {
            return Err(ApiError::UrlFailed(format!("{host} has no addresses")));
        }
        // Every answer must pass: an attacker's DNS may mix a public and a private address.
        for a in &addrs {
            self.check_addr(host, a.ip())?;
        }
        Ok(addrs[0])
    }

    /// Fetches `raw_url` and returns its body, which must be an accepted image format.
    pub async fn fetch_image(&self, raw_url: &str) -> Result<Vec<u8>, ApiError> {
        let started = Instant::now();
        let deadline = started + self.total_timeout;
        let mut url = Url::parse(raw_url.trim())
            .map_err(|e| ApiError::BadRequest(format!("image_url is not a valid URL: {e}")))?;
        for hop in 0..=self.max_redirects {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ApiError::UrlRefused(format!(
                    "only http and https URLs are fetched, not '{}'",
                    url.scheme()
                )));
            }
            let addr = self.resolve_checked(&url, deadline).await?;
            let host = url.host_str().unwrap_or_default().to_owned();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ApiError::UrlFailed(format!(
                    "fetching the image took longer than {:?}",
                    self.total_timeout
                )));
            }
            // A client per hop, pinned to the checked address; no proxies (they would bypass
            // the check), no automatic redirects (each hop is checked here).
            let client = reqwest::Client::builder()
                .resolve(&host, addr)
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.connect_timeout)
                .timeout(left)
                .user_agent(concat!("candlelit/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| ApiError::Internal(format!("http client: {e}")))?;
            let mut resp = client.get(url.clone()).send().await.map_err(|e| {
                if e.is_timeout() {
                    ApiError::UrlFailed(format!("fetching {host} timed out"))
                } else {
                    ApiError::UrlFailed(format!(
                        "could not fetch the image from {host}: {}",
                        root_cause(&e)
                    ))
                }
            })?;
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
                .is_some_and(|n| n > self.max_bytes as u64)
            {
                return Err(self.too_large());
            }
            let mut body = Vec::new();
            loop {
                let chunk = resp.chunk().await.map_err(|e| {
                    if e.is_timeout() {
                        ApiError::UrlFailed(format!(
                            "fetching the image took longer than {:?}",
                            self.total_timeout
                        ))
                    } else {
                        ApiError::UrlFailed(format!(
                            "reading the image from {host} failed: {}",
                            root_cause(&e)
                        ))
                    }
                })?;
                let Some(chunk) = chunk else { break };
                if body.len() + chunk.len() > self.max_bytes {
                    return Err(self.too_large());
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
            self.max_redirects
        )))
    }

    fn too_large(&self) -> ApiError {
        ApiError::PayloadTooLarge(format!(
            "the image at the URL is larger than {} bytes (--fetch-max-bytes)",
            self.max_bytes
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

    #[tokio::test]
    async fn schemes_other_than_http_are_refused() {
        let p = FetchPolicy::default();
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
        let p = FetchPolicy::default();
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
