//! The baseline server for the visit-link figures: hyper 1's hello world
//! (as in hyper's `examples/hello.rs`), on the same tokio multi-thread
//! runtime `bedside serve` uses, built with the same profile in the same run.
//!
//! `hello serve` binds 127.0.0.1 on a free port, prints `listening <addr>`
//! and serves `Hello, world!` until it is killed. Under plain `cargo bench`
//! (no `serve` argument) it does nothing: `bench/run` starts it.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() {
    if std::env::args().nth(1).as_deref() != Some("serve") {
        println!("hello: the baseline server bench/run starts (`hello serve`); nothing to do here");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve());
}

async fn serve() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    println!("listening {}", listener.local_addr().expect("address"));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(|_request| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                    b"Hello, world!",
                ))))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
