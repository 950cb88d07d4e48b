//! The baseline: what a Rust user would pick instead: tokio (current_thread runtime) +
//! tokio-rustls (ring; the run's TLS version) + tokio-tungstenite + serde_json into a typed
//! struct with owned `String`s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fstack_binance::stats::unix_micros_now;
use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::measure::{Measured, Snapshot};
use crate::server::FIRST_SEQ;
use crate::source::Source;
use crate::TlsVersion;

/// The "natural" typed decoding: every field owned, prices as `String` (exact, like ours).
#[allow(dead_code)] // fields are decoded, not all read
#[derive(Debug, Deserialize)]
pub struct Ticker {
    #[serde(rename = "e")]
    pub event_type: String,
    #[serde(rename = "E")]
    pub event_time: u64,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "p")]
    pub price_change: String,
    #[serde(rename = "P")]
    pub price_change_percent: String,
    #[serde(rename = "w")]
    pub weighted_avg_price: String,
    #[serde(rename = "x")]
    pub prev_close_price: String,
    #[serde(rename = "c")]
    pub last_price: String,
    #[serde(rename = "Q")]
    pub last_qty: String,
    #[serde(rename = "b")]
    pub bid_price: String,
    #[serde(rename = "B")]
    pub bid_qty: String,
    #[serde(rename = "a")]
    pub ask_price: String,
    #[serde(rename = "A")]
    pub ask_qty: String,
    #[serde(rename = "o")]
    pub open_price: String,
    #[serde(rename = "h")]
    pub high_price: String,
    #[serde(rename = "l")]
    pub low_price: String,
    #[serde(rename = "v")]
    pub volume: String,
    #[serde(rename = "q")]
    pub quote_volume: String,
    #[serde(rename = "O")]
    pub open_time: u64,
    #[serde(rename = "C")]
    pub close_time: u64,
    #[serde(rename = "F")]
    pub first_trade_id: i64,
    #[serde(rename = "L")]
    pub last_trade_id: i64,
    #[serde(rename = "n")]
    pub trade_count: u64,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
pub struct Combined {
    pub stream: String,
    pub data: Ticker,
}

/// Decodes one text frame the baseline way; the event time and the sequence number (`n`).
pub fn decode_text(text: &str, combined: bool) -> Option<(u64, u64)> {
    let ticker = if combined {
        serde_json::from_str::<Combined>(text).ok().map(|c| c.data)
    } else {
        serde_json::from_str::<Ticker>(text).ok()
    };
    ticker.map(|t| (t.event_time, t.trade_count))
}

fn client_config(ca_pem: &str, version: TlsVersion) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version.rustls()])
        .expect("TLS version")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

pub fn run(source: &Source, warmup: u64, target: u64) -> Measured {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = Arc::new(client_config(
        source.server.ca_pem(),
        source.server.version(),
    ));
    let combined = source.combined;
    let addr = source.server.addr();
    let url = format!("wss://localhost:{}{}", addr.port(), source.target);
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect("TLS handshake");
        let client_suite = tls
            .get_ref()
            .1
            .negotiated_cipher_suite()
            .map(|s| u16::from(s.suite()));
        let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("WebSocket handshake");
        let mut seen = 0u64;
        let mut next_seq = FIRST_SEQ;
        let mut seq_errors = 0u64;
        let mut lat = Vec::with_capacity(target as usize);
        let mut start = None;
        let deadline = Instant::now() + Duration::from_secs(120);
        let end = loop {
            let msg = ws.next().await.expect("stream ended").expect("read");
            let WsMessage::Text(text) = msg else {
                continue;
            };
            let Some((event_time, seq)) = decode_text(&text, combined) else {
                eprintln!("e2e: baseline: undecodable message");
                continue;
            };
            let t = unix_micros_now();
            if seq != next_seq {
                seq_errors += 1;
            }
            next_seq = seq + 1;
            seen += 1;
            if seen > warmup {
                lat.push(t.saturating_sub(event_time) as u32);
                if seen == warmup + target {
                    break Snapshot::now();
                }
            } else if seen == warmup {
                start = Some(Snapshot::now());
            }
            assert!(Instant::now() < deadline, "e2e: baseline run too slow");
        };
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
        Measured {
            start: start.expect("start"),
            end,
            latency_us: lat,
            seq_errors,
            events: target,
            client_suite,
        }
    })
}
